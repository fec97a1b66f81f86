// Verify a notification in Antom's own format: what Antom sends to your notify URL, or what Caddy
// (antom_webhook with `forward_format antom`) forwards to your app. C#, .NET Framework 4.5+ (or
// Mono, or .NET Core/5+), no NuGet package.
//
//   byte[] body;                                                 // the raw bytes, never re-serialised JSON
//   using (var ms = new MemoryStream()) { Request.InputStream.CopyTo(ms); body = ms.ToArray(); }
//   var v = AntomSignature.Verify(ConfigurationManager.AppSettings["AntomPublicKey"],
//                                 Request.Url.PathAndQuery, Request.Headers, body);
//   if (!v.Ok) { Response.StatusCode = v.Status; Response.Write(v.Reason); return; }  // sent again later
//   // trusted: process it once, then answer Antom's ack (anything else is sent again):
//   Response.ContentType = "application/json";
//   Response.Write("{\"result\":{\"resultCode\":\"SUCCESS\",\"resultStatus\":\"S\",\"resultMessage\":\"success\"}}");
//
// The public key is the one that signs these notifications, one-line base64 as the Antom dashboard
// shows it, or PEM. Behind Caddy that is Antom's public key when Caddy passes Antom's signature
// through, or the public half of `forward_key` when Caddy signs. While keys rotate, pass a
// dictionary keyVersion -> key instead. The path is the one the sender posted to (with the query,
// if any), unless a proxy in front of the app rewrites the URL. request-time is not checked for
// freshness: Antom and Caddy resend a notification for hours; deduplicate on its ids instead.
// Status: 401 bad signature or unknown key version, 400 missing/malformed headers, 500 unusable key.
using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

public static class AntomSignature
{
    public sealed class Result
    {
        public bool Ok;
        public int Status;          // when !Ok: 400, 401 or 500
        public string Reason;       // when !Ok
        public string KeyVersion;   // when Ok: the key version that verified
    }

    public static Result Verify(string publicKey, string path, NameValueCollection headers, byte[] body)
    {
        return Verify(null, publicKey, path, headers, body);
    }

    public static Result Verify(IDictionary<string, string> keysByVersion, string path, NameValueCollection headers, byte[] body)
    {
        return Verify(keysByVersion, null, path, headers, body);
    }

    static Result Verify(IDictionary<string, string> keysByVersion, string oneKey, string path, NameValueCollection headers, byte[] body)
    {
        foreach (string need in new[] { "client-id", "request-time", "signature" })
        {
            if (string.IsNullOrWhiteSpace(headers[need])) return Fail(400, "missing header " + need);
        }

        // algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>; spaces after commas allowed.
        var p = new Dictionary<string, string>();
        foreach (string part in headers["signature"].Split(','))
        {
            int eq = part.IndexOf('=');
            if (eq > 0) p[part.Substring(0, eq).Trim().ToLowerInvariant()] = part.Substring(eq + 1).Trim();
        }
        string alg, version, encoded;
        if (p.TryGetValue("algorithm", out alg) && !string.Equals(alg, "RSA256", StringComparison.OrdinalIgnoreCase))
            return Fail(400, "signature algorithm is not RSA256");
        if (!p.TryGetValue("keyversion", out version) || version == "") version = "1";
        byte[] sig;
        try
        {
            // Percent-decoding only (Uri.UnescapeDataString keeps a raw '+'); a space is a '+' a proxy form-decoded.
            sig = Convert.FromBase64String(Uri.UnescapeDataString(p.TryGetValue("signature", out encoded) ? encoded : "").Replace(' ', '+'));
        }
        catch (FormatException) { sig = new byte[0]; }
        if (sig.Length == 0) return Fail(400, "signature header has no base64 signature= value");

        string keyText = oneKey;
        if (keysByVersion != null && !keysByVersion.TryGetValue(version, out keyText))
            return Fail(401, "no public key configured for keyVersion " + version);
        RSAParameters key;
        try { key = ParseSubjectPublicKeyInfo(Convert.FromBase64String(Regex.Replace(keyText ?? "", "-----[A-Z ]+-----|\\s", ""))); }
        catch (FormatException) { return Fail(500, "the configured public key is not an RSA public key (base64 or PEM)"); }

        byte[] head = Encoding.UTF8.GetBytes("POST " + path + "\n" + headers["client-id"].Trim() + "." + headers["request-time"].Trim() + ".");
        byte[] content = new byte[head.Length + body.Length];
        Buffer.BlockCopy(head, 0, content, 0, head.Length);
        Buffer.BlockCopy(body, 0, content, head.Length, body.Length);
        bool valid;
        using (var rsa = new RSACryptoServiceProvider())
        {
            rsa.ImportParameters(key);
            try { valid = rsa.VerifyData(content, "SHA256", sig); }
            catch (CryptographicException) { valid = false; }   // a signature of the wrong length
        }
        if (!valid) return Fail(401, "bad signature for keyVersion " + version + " (wrong public key, or path/client-id/request-time/body changed)");
        return new Result { Ok = true, KeyVersion = version };
    }

    // The modulus and exponent of a DER SubjectPublicKeyInfo (.NET Framework has no
    // ImportSubjectPublicKeyInfo); FormatException when it is not an RSA one.
    static RSAParameters ParseSubjectPublicKeyInfo(byte[] der)
    {
        int pos = 0;
        Enter(der, ref pos, 0x30);                       // SubjectPublicKeyInfo
        int algEnd = Enter(der, ref pos, 0x30);          // AlgorithmIdentifier
        byte[] rsaOid = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
        for (int i = 0; i < rsaOid.Length; i++)
            if (pos + i >= der.Length || der[pos + i] != rsaOid[i]) throw new FormatException("not an RSA key");
        pos = algEnd;
        Enter(der, ref pos, 0x03);                       // BIT STRING
        if (pos >= der.Length || der[pos++] != 0) throw new FormatException("bad BIT STRING");
        Enter(der, ref pos, 0x30);                       // RSAPublicKey
        var key = new RSAParameters();
        key.Modulus = Integer(der, ref pos);
        key.Exponent = Integer(der, ref pos);
        return key;
    }

    // Steps into the DER element with the given tag at pos; returns the end of its content.
    static int Enter(byte[] der, ref int pos, byte tag)
    {
        if (pos + 2 > der.Length || der[pos] != tag) throw new FormatException("unexpected DER tag");
        int len = der[pos + 1], i = pos + 2;
        if ((len & 0x80) != 0)
        {
            int n = len & 0x7f;
            if (n < 1 || n > 4 || i + n > der.Length) throw new FormatException("bad DER length");
            len = 0;
            for (int j = 0; j < n; j++) len = (len << 8) | der[i + j];
            i += n;
        }
        if (len < 0 || i + len > der.Length) throw new FormatException("bad DER length");
        pos = i;
        return i + len;
    }

    static byte[] Integer(byte[] der, ref int pos)
    {
        int end = Enter(der, ref pos, 0x02);
        while (pos < end - 1 && der[pos] == 0) pos++;    // RSAParameters wants no sign byte
        byte[] value = new byte[end - pos];
        Buffer.BlockCopy(der, pos, value, 0, value.Length);
        pos = end;
        return value;
    }

    static Result Fail(int status, string reason)
    {
        return new Result { Ok = false, Status = status, Reason = reason };
    }
}

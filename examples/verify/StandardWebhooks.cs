// Verify an event forwarded by Caddy (Standard Webhooks). C#, .NET Framework 4.5+ (or Mono, or
// .NET Core/5+), no NuGet package.
//
//   byte[] body;                                                 // the raw bytes, never re-serialised JSON
//   using (var ms = new MemoryStream()) { Request.InputStream.CopyTo(ms); body = ms.ToArray(); }
//   var v = StandardWebhooks.Verify(ConfigurationManager.AppSettings["AntomForwardSecret"],
//                                   Request.Headers, body);      // ASP.NET, HttpListener: a NameValueCollection
//   if (!v.Ok) { Response.StatusCode = v.Status; Response.Write(v.Reason); return; }
//   // trusted: parse body, deduplicate on v.Id (the webhook-id), answer 2xx once processed
//
// While you rotate the forward secret, pass every secret the event may be signed with (it is
// authentic if it is signed with any): new[] { newSecret, oldSecret }.
// Status to answer: 401 bad signature, 400 missing/malformed headers or a timestamp outside the
// tolerance (default 5 minutes), 500 when a secret itself is unusable (a configuration error).
using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

public static class StandardWebhooks
{
    public sealed class Result
    {
        public bool Ok;
        public int Status;      // when !Ok: 400, 401 or 500
        public string Reason;   // when !Ok
        public string Id;       // when Ok: the webhook-id
    }

    public static Result Verify(string secret, NameValueCollection headers, byte[] body)
    {
        return Verify(new[] { secret }, headers, body);
    }

    public static Result Verify(IList<string> secrets, NameValueCollection headers, byte[] body)
    {
        return Verify(secrets, headers, body, 300, (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds);
    }

    public static Result Verify(IList<string> secrets, NameValueCollection headers, byte[] body, long toleranceSec, long nowSec)
    {
        var keys = new List<byte[]>();
        foreach (string secret in secrets)
        {
            string b64 = secret == null ? "" : secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret.Substring(6) : secret;
            byte[] key;
            try { key = Convert.FromBase64String(b64); }
            catch (FormatException) { key = new byte[0]; }
            if (key.Length == 0) return Fail(500, "secret is empty or not base64 (expected whsec_<base64>)");
            keys.Add(key);
        }
        if (keys.Count == 0) return Fail(500, "no secret given");

        foreach (string need in new[] { "webhook-id", "webhook-timestamp", "webhook-signature" })
        {
            if (string.IsNullOrWhiteSpace(headers[need])) return Fail(400, "missing header " + need);
        }
        string id = headers["webhook-id"];
        string ts = headers["webhook-timestamp"].Trim();
        if (!Regex.IsMatch(ts, "^[0-9]{1,12}$")) return Fail(400, "webhook-timestamp is not unix seconds");

        byte[] prefix = Encoding.UTF8.GetBytes(id + "." + ts + ".");
        byte[] signed = new byte[prefix.Length + body.Length];
        Buffer.BlockCopy(prefix, 0, signed, 0, prefix.Length);
        Buffer.BlockCopy(body, 0, signed, prefix.Length, body.Length);
        bool valid = false;
        foreach (byte[] key in keys)
        {
            byte[] expected;
            using (var hmac = new HMACSHA256(key)) expected = Encoding.ASCII.GetBytes(Convert.ToBase64String(hmac.ComputeHash(signed)));
            foreach (string entry in headers["webhook-signature"].Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries))
            {
                int comma = entry.IndexOf(',');
                if (comma > 0 && entry.Substring(0, comma) == "v1" && FixedTimeEquals(Encoding.UTF8.GetBytes(entry.Substring(comma + 1)), expected))
                    valid = true;
            }
        }
        if (!valid) return Fail(401, "no valid v1 signature (wrong secret, or body/id/timestamp changed)");

        // Checked after the signature, so a 400 here means "authentic but outside the window".
        long t = long.Parse(ts);
        if (t < nowSec - toleranceSec) return Fail(400, "timestamp too old");
        if (t > nowSec + toleranceSec) return Fail(400, "timestamp too new (check the clocks)");
        return new Result { Ok = true, Id = id };
    }

    // Compares in time that depends only on the lengths (CryptographicOperations is .NET Core only).
    static bool FixedTimeEquals(byte[] a, byte[] b)
    {
        if (a.Length != b.Length) return false;
        int diff = 0;
        for (int i = 0; i < a.Length; i++) diff |= a[i] ^ b[i];
        return diff == 0;
    }

    static Result Fail(int status, string reason)
    {
        return new Result { Ok = false, Status = status, Reason = reason };
    }
}

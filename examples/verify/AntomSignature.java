// Verify a notification in Antom's own format: what Antom sends to your notify URL, or what Caddy
// (antom_webhook with `forward_format antom`) forwards to your app. Java 8+, the JDK only.
//
//   byte[] body = readAllBytes(request.getInputStream());   // the raw bytes, never re-serialised JSON
//   String path = request.getRequestURI() + (request.getQueryString() == null ? "" : "?" + request.getQueryString());
//   Map<String, String> headers = ...;                       // header name -> value, any case
//   try {
//       AntomSignature.verify(System.getenv("ANTOM_PUBLIC_KEY"), path, headers, body);
//   } catch (AntomSignature.Failure f) {
//       response.sendError(f.status, f.getMessage());        // 400, 401, or 500 (bad key); sent again later
//       return;
//   }
//   // trusted: process it once, then answer Antom's ack (anything else is sent again):
//   response.setContentType("application/json");
//   response.getWriter().write("{\"result\":{\"resultCode\":\"SUCCESS\",\"resultStatus\":\"S\",\"resultMessage\":\"success\"}}");
//
// The public key is the one that signs these notifications, one-line base64 as the Antom dashboard
// shows it, or PEM. Behind Caddy that is Antom's public key when Caddy passes Antom's signature
// through, or the public half of `forward_key` when Caddy signs. While keys rotate, pass a map
// keyVersion -> key instead: verify(keysByVersion, path, headers, body).
// The path is the one the sender posted to (with the query, if any), unless a proxy in front of the
// app rewrites the URL. request-time is not checked for freshness: Antom and Caddy resend a
// notification for hours; deduplicate on the notification's ids instead.
// verify returns the keyVersion that verified. Status: 401 bad signature or unknown key version,
// 400 missing/malformed headers, 500 unusable key.
import java.io.UnsupportedEncodingException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

public final class AntomSignature {
    public static final class Failure extends Exception {
        public final int status;
        Failure(int status, String reason) { super(reason); this.status = status; }
    }

    public static String verify(String publicKey, String path, Map<String, String> headers, byte[] body) throws Failure {
        return verify(null, publicKey, path, headers, body);
    }

    public static String verify(Map<String, String> keysByVersion, String path, Map<String, String> headers, byte[] body) throws Failure {
        return verify(keysByVersion, null, path, headers, body);
    }

    private static String verify(Map<String, String> keysByVersion, String oneKey, String path,
                                 Map<String, String> headers, byte[] body) throws Failure {
        Map<String, String> h = new HashMap<>();
        for (Map.Entry<String, String> e : headers.entrySet()) {
            if (e.getKey() != null && e.getValue() != null) h.put(e.getKey().toLowerCase(), e.getValue().trim());
        }
        for (String need : new String[] {"client-id", "request-time", "signature"}) {
            if (h.get(need) == null || h.get(need).isEmpty()) throw new Failure(400, "missing header " + need);
        }

        // algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>; spaces after commas allowed.
        Map<String, String> p = new HashMap<>();
        for (String part : h.get("signature").split(",")) {
            int eq = part.indexOf('=');
            if (eq > 0) p.put(part.substring(0, eq).trim().toLowerCase(), part.substring(eq + 1).trim());
        }
        if (p.containsKey("algorithm") && !p.get("algorithm").equalsIgnoreCase("RSA256")) {
            throw new Failure(400, "signature algorithm is not RSA256");
        }
        String version = p.get("keyversion") == null || p.get("keyversion").isEmpty() ? "1" : p.get("keyversion");
        byte[] sig;
        try {
            // Percent-decoding only: a raw '+' is protected from URLDecoder, which would make it a space.
            String b64 = URLDecoder.decode(p.getOrDefault("signature", "").replace("+", "%2B"), "UTF-8");
            sig = Base64.getDecoder().decode(b64.replace(' ', '+'));
        } catch (IllegalArgumentException | UnsupportedEncodingException e) {
            sig = new byte[0];
        }
        if (sig.length == 0) throw new Failure(400, "signature header has no base64 signature= value");

        String keyText = keysByVersion == null ? oneKey : keysByVersion.get(version);
        if (keyText == null) throw new Failure(401, "no public key configured for keyVersion " + version);
        PublicKey key;
        try {
            byte[] der = Base64.getDecoder().decode(keyText.replaceAll("-----[A-Z ]+-----|\\s", ""));
            key = KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(der));
        } catch (IllegalArgumentException | GeneralSecurityException e) {
            throw new Failure(500, "the configured public key is not an RSA public key (base64 or PEM)");
        }

        byte[] head = ("POST " + path + "\n" + h.get("client-id") + "." + h.get("request-time") + ".").getBytes(StandardCharsets.UTF_8);
        boolean valid;
        try {
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initVerify(key);
            s.update(head);
            s.update(body);
            valid = s.verify(sig);
        } catch (GeneralSecurityException e) {
            valid = false; // a signature of the wrong length
        }
        if (!valid) {
            throw new Failure(401, "bad signature for keyVersion " + version
                    + " (wrong public key, or path/client-id/request-time/body changed)");
        }
        return version;
    }
}

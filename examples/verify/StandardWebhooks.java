// Verify an event forwarded by Caddy (Standard Webhooks). Java 8+, javax.crypto only.
//
//   byte[] body = readAllBytes(request.getInputStream());   // the raw bytes, never re-serialised JSON
//   Map<String, String> headers = ...;                       // header name -> value, any case
//   try {
//       String webhookId = Verify.verify(System.getenv("ANTOM_FORWARD_SECRET"), headers, body);
//       // trusted: parse body, deduplicate on webhookId, answer 2xx once processed
//   } catch (Verify.Failure f) {
//       response.sendError(f.status, f.getMessage());        // 400, 401, or 500 (bad secret)
//   }
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class Verify {
    public static final class Failure extends Exception {
        public final int status;
        Failure(int status, String reason) { super(reason); this.status = status; }
    }

    public static String verify(String secret, Map<String, String> headers, byte[] body) throws Failure {
        return verify(secret, headers, body, 300, System.currentTimeMillis() / 1000);
    }

    public static String verify(String secret, Map<String, String> headers, byte[] body,
                                long toleranceSec, long nowSec) throws Failure {
        Map<String, String> h = new HashMap<>();
        for (Map.Entry<String, String> e : headers.entrySet()) {
            if (e.getKey() != null && e.getValue() != null) h.put(e.getKey().toLowerCase(), e.getValue());
        }
        byte[] key;
        try {
            String b64 = secret == null ? "" : secret.startsWith("whsec_") ? secret.substring(6) : secret;
            key = Base64.getDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            key = new byte[0];
        }
        if (key.length == 0) throw new Failure(500, "secret is empty or not base64 (expected whsec_<base64>)");

        for (String need : new String[] {"webhook-id", "webhook-timestamp", "webhook-signature"}) {
            if (h.get(need) == null || h.get(need).trim().isEmpty()) throw new Failure(400, "missing header " + need);
        }
        String id = h.get("webhook-id");
        String ts = h.get("webhook-timestamp").trim();
        if (!ts.matches("[0-9]{1,12}")) throw new Failure(400, "webhook-timestamp is not unix seconds");

        byte[] expected;
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update((id + "." + ts + ".").getBytes(StandardCharsets.UTF_8));
            expected = Base64.getEncoder().encode(mac.doFinal(body));
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
        boolean valid = false;
        for (String entry : h.get("webhook-signature").trim().split("\\s+")) {
            int comma = entry.indexOf(',');
            if (comma > 0 && entry.substring(0, comma).equals("v1")
                    && MessageDigest.isEqual(entry.substring(comma + 1).getBytes(StandardCharsets.UTF_8), expected)) {
                valid = true;
                break;
            }
        }
        if (!valid) throw new Failure(401, "no valid v1 signature (wrong secret, or body/id/timestamp changed)");

        long t = Long.parseLong(ts);
        if (t < nowSec - toleranceSec) throw new Failure(400, "timestamp too old");
        if (t > nowSec + toleranceSec) throw new Failure(400, "timestamp too new (check the clocks)");
        return id;
    }
}

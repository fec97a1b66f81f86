// Verify an event forwarded by Caddy (Standard Webhooks). Java 8+, the JDK only.
//
//   byte[] body = readAllBytes(request.getInputStream());   // the raw bytes, never re-serialised JSON
//   Map<String, String> headers = ...;                       // header name -> value, any case
//   try {
//       String webhookId = StandardWebhooks.verify(System.getenv("ANTOM_FORWARD_SECRET"), headers, body);
//       // trusted: parse body, deduplicate on webhookId, answer 2xx once processed
//   } catch (StandardWebhooks.Failure f) {
//       response.sendError(f.status, f.getMessage());        // 400, 401, or 500 (bad secret)
//   }
//
// While you rotate the forward secret, pass every secret the event may be signed with (it is
// authentic if it is signed with any): StandardWebhooks.verify(Arrays.asList(newSecret, oldSecret), headers, body).
// Status to answer: 401 bad signature, 400 missing/malformed headers or a timestamp outside the
// tolerance (default 5 minutes), 500 when a secret itself is unusable (a configuration error).
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class StandardWebhooks {
    public static final class Failure extends Exception {
        public final int status;
        Failure(int status, String reason) { super(reason); this.status = status; }
    }

    public static String verify(String secret, Map<String, String> headers, byte[] body) throws Failure {
        return verify(Collections.singletonList(secret), headers, body, 300, System.currentTimeMillis() / 1000);
    }

    public static String verify(List<String> secrets, Map<String, String> headers, byte[] body) throws Failure {
        return verify(secrets, headers, body, 300, System.currentTimeMillis() / 1000);
    }

    public static String verify(List<String> secrets, Map<String, String> headers, byte[] body,
                                long toleranceSec, long nowSec) throws Failure {
        Map<String, String> h = new HashMap<>();
        for (Map.Entry<String, String> e : headers.entrySet()) {
            if (e.getKey() != null && e.getValue() != null) h.put(e.getKey().toLowerCase(), e.getValue());
        }
        List<byte[]> keys = new ArrayList<>();
        for (String secret : secrets) {
            byte[] key;
            try {
                key = Base64.getDecoder().decode(secret == null ? "" : secret.startsWith("whsec_") ? secret.substring(6) : secret);
            } catch (IllegalArgumentException e) {
                key = new byte[0];
            }
            if (key.length == 0) throw new Failure(500, "secret is empty or not base64 (expected whsec_<base64>)");
            keys.add(key);
        }
        if (keys.isEmpty()) throw new Failure(500, "no secret given");

        for (String need : new String[] {"webhook-id", "webhook-timestamp", "webhook-signature"}) {
            if (h.get(need) == null || h.get(need).trim().isEmpty()) throw new Failure(400, "missing header " + need);
        }
        String id = h.get("webhook-id");
        String ts = h.get("webhook-timestamp").trim();
        if (!ts.matches("[0-9]{1,12}")) throw new Failure(400, "webhook-timestamp is not unix seconds");

        boolean valid = false;
        for (byte[] key : keys) {
            byte[] expected;
            try {
                Mac mac = Mac.getInstance("HmacSHA256");
                mac.init(new SecretKeySpec(key, "HmacSHA256"));
                mac.update((id + "." + ts + ".").getBytes(StandardCharsets.UTF_8));
                expected = Base64.getEncoder().encode(mac.doFinal(body));
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("HmacSHA256 unavailable", e);
            }
            for (String entry : h.get("webhook-signature").trim().split("\\s+")) {
                int comma = entry.indexOf(',');
                if (comma > 0 && entry.substring(0, comma).equals("v1")
                        && MessageDigest.isEqual(entry.substring(comma + 1).getBytes(StandardCharsets.UTF_8), expected)) {
                    valid = true;
                }
            }
        }
        if (!valid) throw new Failure(401, "no valid v1 signature (wrong secret, or body/id/timestamp changed)");

        // Checked after the signature, so a 400 here means "authentic but outside the window".
        long t = Long.parseLong(ts);
        if (t < nowSec - toleranceSec) throw new Failure(400, "timestamp too old");
        if (t > nowSec + toleranceSec) throw new Failure(400, "timestamp too new (check the clocks)");
        return id;
    }
}

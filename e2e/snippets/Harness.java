// java -cp <classes> Harness <cases>: see README.md. Compiled with examples/verify/*.java.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class Harness {
    public static void main(String[] args) throws Exception {
        Base64.Decoder d = Base64.getDecoder();
        for (String line : Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            if (line.isEmpty()) continue;
            String[] f = line.split("\t", -1);
            Map<String, String> h = new LinkedHashMap<>();
            for (String hl : new String(d.decode(f[5]), StandardCharsets.UTF_8).split("\n")) {
                int i = hl.indexOf(": ");
                if (i > 0) h.put(hl.substring(0, i), hl.substring(i + 2));
            }
            List<String> list = new ArrayList<>();
            Map<String, String> map = new LinkedHashMap<>();
            for (String c : f[2].split(",")) {
                int i = c.indexOf(':');
                String value = new String(d.decode(c.substring(i + 1)), StandardCharsets.UTF_8);
                list.add(value);
                map.put(c.substring(0, i), value);
            }
            byte[] body = d.decode(f[6]);
            String out;
            try {
                if (f[1].equals("sw")) {
                    out = "ok\t" + StandardWebhooks.verify(list, h, body, 300, Long.parseLong(f[4]));
                } else {
                    String path = new String(d.decode(f[3]), StandardCharsets.UTF_8);
                    out = "ok\t" + (map.containsKey("*") ? AntomSignature.verify(map.get("*"), path, h, body)
                            : AntomSignature.verify(map, path, h, body));
                }
            } catch (StandardWebhooks.Failure e) {
                out = "fail\t" + e.status + "\t" + e.getMessage();
            } catch (AntomSignature.Failure e) {
                out = "fail\t" + e.status + "\t" + e.getMessage();
            }
            System.out.println(f[0] + "\t" + out);
        }
    }
}

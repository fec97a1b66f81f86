// mono harness.exe <cases>: see README.md. Compiled with examples/verify/*.cs.
using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.IO;
using System.Text;

public static class Harness
{
    public static void Main(string[] args)
    {
        foreach (string line in File.ReadAllLines(args[0], Encoding.UTF8))
        {
            if (line.Length == 0) continue;
            string[] f = line.Split('\t');
            var h = new NameValueCollection();
            foreach (string hl in Encoding.UTF8.GetString(Convert.FromBase64String(f[5])).Split('\n'))
            {
                int i = hl.IndexOf(": ", StringComparison.Ordinal);
                if (i > 0) h[hl.Substring(0, i)] = hl.Substring(i + 2);
            }
            var list = new List<string>();
            var map = new Dictionary<string, string>();
            foreach (string c in f[2].Split(','))
            {
                int i = c.IndexOf(':');
                string value = Encoding.UTF8.GetString(Convert.FromBase64String(c.Substring(i + 1)));
                list.Add(value);
                map[c.Substring(0, i)] = value;
            }
            byte[] body = Convert.FromBase64String(f[6]);
            bool ok;
            int status;
            string detail;
            if (f[1] == "sw")
            {
                var r = StandardWebhooks.Verify(list, h, body, 300, long.Parse(f[4]));
                ok = r.Ok; status = r.Status; detail = r.Ok ? r.Id : r.Reason;
            }
            else
            {
                string path = Encoding.UTF8.GetString(Convert.FromBase64String(f[3]));
                var r = map.ContainsKey("*") ? AntomSignature.Verify(map["*"], path, h, body) : AntomSignature.Verify(map, path, h, body);
                ok = r.Ok; status = r.Status; detail = r.Ok ? r.KeyVersion : r.Reason;
            }
            Console.WriteLine(f[0] + "\t" + (ok ? "ok\t" + detail : "fail\t" + status + "\t" + detail));
        }
    }
}

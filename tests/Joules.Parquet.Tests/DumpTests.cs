using Xunit;
using Xunit.Abstractions;

namespace Joules.Parquet.Tests;

public class DumpTests(ITestOutputHelper output)
{
    [Fact]
    public void DumpAll()
    {
        foreach (var f in Directory.GetFiles(TestPaths.Fixtures, "*.parquet").Order())
        {
            output.WriteLine("== " + Path.GetFileName(f));
            try
            {
                using var r = ParquetFileReader.Open(f);
                output.WriteLine($"rows {r.RowCount} groups {r.RowGroupCount} by {r.CreatedBy}");
                foreach (var c in r.Schema) output.WriteLine("  " + c + " " + c.NotSupportedReason);
                var g = r.ReadRowGroup(0, r.ReadableColumns);
                for (int i = 0; i < g.Columns.Count; i++)
                {
                    var c = g.Columns[i];
                    var vals = Enumerable.Range(0, Math.Min(c.Count, 6)).Select(k => c.GetValue(k) switch { null => "null", byte[] b => Convert.ToHexString(b), var v => v.ToString() });
                    output.WriteLine($"  {g.Schema[i].Name}: {string.Join(", ", vals)}");
                }
            }
            catch (Exception e) { output.WriteLine("  ERROR " + e.GetType().Name + ": " + e.Message); }
        }
    }
}

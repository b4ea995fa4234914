using Joules.Output;
using Joules.Parquet;

namespace Joules.Planning;

/// <summary>A small flat table of named, typed columns (string, int, double, bool) written to and read from Parquet with footer metadata: the plan's work lists and results.</summary>
public sealed class PlanTable
{
    private readonly List<(string Name, Type Type, System.Collections.IList Values)> _columns = [];

    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);
    public int Rows => _columns.Count == 0 ? 0 : _columns[0].Values.Count;
    public IEnumerable<string> ColumnNames => _columns.Select(c => c.Name);

    public List<T> Column<T>(string name)
    {
        var i = _columns.FindIndex(c => c.Name == name);
        if (i < 0)
        {
            var list = new List<T>();
            _columns.Add((name, typeof(T), list));
            return list;
        }
        return _columns[i].Values as List<T> ?? throw new InvalidDataException($"column '{name}' holds {_columns[i].Type.Name} values, not {typeof(T).Name}");
    }

    public bool Has(string name) => _columns.Any(c => c.Name == name);

    /// <summary>Writes the table atomically (temporary file renamed into place).</summary>
    public void Write(string path, CancellationToken cancel = default)
    {
        var schema = new ParquetSchema(_columns.Select(c => c.Type switch
        {
            var t when t == typeof(string) => ParquetColumn.String(c.Name, optional: true),
            var t when t == typeof(int) => ParquetColumn.Int32(c.Name),
            var t when t == typeof(double) => ParquetColumn.Double(c.Name),
            var t when t == typeof(bool) => ParquetColumn.Boolean(c.Name),
            var t => throw new NotSupportedException($"column type {t.Name}"),
        }));
        using var file = AtomicFile.Create(path, cancel);
        using (var w = new ParquetFileWriter(file.Stream, schema, new ParquetWriteOptions { Metadata = Metadata }, leaveOpen: true))
        {
            var data = _columns.Select(c => c.Values switch
            {
                List<string> s => (ColumnData)ColumnData.From(s.ToArray()),
                List<int> i => ColumnData.From(i.ToArray()),
                List<double> d => ColumnData.From(d.ToArray()),
                List<bool> b => ColumnData.From(b.ToArray()),
                _ => throw new NotSupportedException(),
            }).ToArray();
            w.WriteRowGroup(data);
            w.Complete();
        }
        file.Commit();
    }

    /// <summary>Reads a table written by <see cref="Write"/>; errors name the file.</summary>
    public static PlanTable Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist", path);
        var t = new PlanTable();
        using var r = ParquetFileReader.Open(path);
        foreach (var (k, v) in r.Metadata) if (v != null) t.Metadata[k] = v;
        foreach (var c in r.Schema)
        {
            switch (c.PhysicalType)
            {
                case PhysicalType.ByteArray: t.Column<string>(c.Name); break;
                case PhysicalType.Int32: t.Column<int>(c.Name); break;
                case PhysicalType.Double: t.Column<double>(c.Name); break;
                case PhysicalType.Boolean: t.Column<bool>(c.Name); break;
                default: throw new InvalidDataException($"{path}: column '{c.Name}' has a type plan files do not use");
            }
        }
        foreach (var g in r.ReadRowGroups())
        {
            foreach (var c in t._columns)
            {
                var d = g[c.Name];
                for (var i = 0; i < d.Count; i++)
                    switch (c.Values)
                    {
                        case List<string> s: s.Add((string?)d.GetValue(i) ?? ""); break;
                        case List<int> n: n.Add(((ColumnData<int>)d)[i]); break;
                        case List<double> x: x.Add(((ColumnData<double>)d)[i]); break;
                        case List<bool> b: b.Add(((ColumnData<bool>)d)[i]); break;
                    }
            }
        }
        return t;
    }
}

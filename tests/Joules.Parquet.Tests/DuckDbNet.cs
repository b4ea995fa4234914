using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DuckDB.NET.Data;

namespace Joules.Parquet.Tests;

/// <summary>DuckDB in process (DuckDB.NET): runs SQL; values, lists included, are compared as JSON (DuckDB's to_json against ours), which keeps null elements that DuckDB.NET's list reader rejects.</summary>
internal static class DuckDbNet
{
    public static void Execute(string sql)
    {
        using var con = Open();
        using var cmd = con.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Every row of a query, each value rendered by <see cref="Render"/>.</summary>
    public static List<string[]> Rows(string sql)
    {
        using var con = Open();
        using var cmd = con.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var rows = new List<string[]>();
        while (r.Read())
        {
            var row = new string[r.FieldCount];
            for (int i = 0; i < r.FieldCount; i++) row[i] = Render(r.IsDBNull(i) ? null : r.GetValue(i));
            rows.Add(row);
        }
        return rows;
    }

    public static string Quote(string path) => "'" + path.Replace("'", "''") + "'";

    /// <summary>null, numbers in invariant form, strings as is, lists as [a,b,null].</summary>
    public static string Render(object? v) => v switch
    {
        null or DBNull => "null",
        string s => s,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable e => "[" + string.Join(",", e.Cast<object?>().Select(Render)) + "]",
        _ => v.ToString() ?? "",
    };

    /// <summary>Every row of a file as DuckDB reads it (in file order), each column as JSON text.</summary>
    public static List<string[]> JsonRows(string path, string columns = "*") =>
        Rows($"SELECT to_json(COLUMNS({columns})) FROM read_parquet({Quote(path)})");

    /// <summary>Our value of one row as JSON.</summary>
    public static string Json(ColumnData column, int row) => JsonSerializer.Serialize(column.GetValue(row));

    public static bool SameJson(string a, string b) => JsonNode.DeepEquals(JsonNode.Parse(a), JsonNode.Parse(b));

    private static DuckDBConnection Open()
    {
        var con = new DuckDBConnection("DataSource=:memory:");
        con.Open();
        return con;
    }
}

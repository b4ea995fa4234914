using System.Text.Json;
using Joules.Output;

namespace Joules.Validation;

/// <summary>Writes a validation's files (validation.json, validation.html) into a folder without losing one priced by another profile.</summary>
public static class ValidationFiles
{
    /// <summary>
    /// Writes <paramref name="result"/> as validation.json and validation.html in <paramref name="folder"/> (each atomically).
    /// A validation.json already there that names a different profile (its SHA-256) is kept, with its HTML, as
    /// validation.&lt;first 12 hex digits of that profile's hash&gt;.json/.html (validation.unnamed-profile.* for one written
    /// before validations named their profile): re-pricing a committed run with another profile must not overwrite the
    /// validation it was published with. Returns the files kept aside (none when the
    /// previous validation used the same profile, or there was none) and the validation.json text written.
    /// </summary>
    public static (IReadOnlyList<string> Kept, string Json) Write(string folder, ValidationResult result, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(folder);
        string json = Path.Combine(folder, "validation.json"), html = Path.Combine(folder, "validation.html");
        var kept = new List<string>();
        if (PreviousProfileSha256(json) is { } previous && previous != (result.ProfileFile?.Sha256 ?? ""))
        {
            var tag = previous.Length >= 12 ? previous[..12] : previous.Length > 0 ? previous : "unnamed-profile";
            foreach (var (from, ext) in new[] { (json, ".json"), (html, ".html") })
            {
                if (!File.Exists(from)) continue;
                var to = Path.Combine(folder, $"validation.{tag}{ext}");
                File.Move(from, to, overwrite: true);
                kept.Add(to);
            }
        }
        var text = ValidationReport.Json(result);
        AtomicFile.Write(json, s => { using var w = new StreamWriter(s, leaveOpen: true); w.WriteLine(text); }, cancel);
        AtomicFile.Write(html, s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(ValidationReport.Html(result)); }, cancel);
        return (kept, text);
    }

    // The profile hash a validation.json names ("" for one priced without a profile file), or null when there is no
    // readable validation there (nothing to keep).
    private static string? PreviousProfileSha256(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            if (!root.TryGetProperty("format", out var f) || f.GetString() != "joules-validation") return null;
            return root.TryGetProperty("profile", out var p) && p.TryGetProperty("sha256", out var sha) ? sha.GetString() ?? "" : "";
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

using Joules.Profiles;
using Joules.Profiles.Measured;
using Joules.Profiles.Roofline;

namespace Joules.Simulation;

/// <summary>What a cost model is built from: its kind, the deployment, for measured kinds the profile file, and where shipped profiles live.</summary>
/// <param name="Kind">Cost-model kind: roofline, profile, auto, or a registered one.</param>
/// <param name="Gpu">The GPU of every instance.</param>
/// <param name="Model">The served model.</param>
/// <param name="TensorParallel">GPUs per instance.</param>
/// <param name="ProfilePath">The measured profile to use, when the user named one.</param>
/// <param name="ProfileRoot">Folder holding measured profiles as calibration/&lt;gpu&gt;/&lt;model&gt;[-tpN]/profile.parquet, searched by the auto kind; null when none is known.</param>
public sealed record CostModelRequest(string Kind, GpuSpec Gpu, ModelCard Model, int TensorParallel, string? ProfilePath = null, string? ProfileRoot = null)
{
    /// <summary>Host time added to every iteration (see <see cref="HostOverheadCostModel"/>); 0 prices iterations as the model alone does.</summary>
    public double IterationOverheadSeconds { get; init; }
}

/// <summary>
/// The one place cost models are made, by kind name: "roofline" (datasheet estimate), "profile" (a measured
/// calibration profile) and "auto" (the measured profile for the deployment when one is shipped under the
/// request's profile root, otherwise roofline). Other kinds plug in with <see cref="Register"/>.
/// </summary>
public static class CostModelFactory
{
    public const string Roofline = "roofline";
    /// <summary>The kind used when a profile file is given without an explicit kind.</summary>
    public const string Profile = "profile";
    /// <summary>Measured when a profile for the GPU, model and tp exists, roofline otherwise.</summary>
    public const string Auto = "auto";

    private static readonly Dictionary<string, Func<CostModelRequest, ICostModel>> s_kinds = new(StringComparer.OrdinalIgnoreCase)
    {
        [Roofline] = r => new RooflineCostModel(r.Gpu, r.Model, r.TensorParallel),
        [Profile] = LoadProfile,
        [Auto] = r => FindProfile(r) is { } path ? LoadProfile(r with { ProfilePath = path }) : new RooflineCostModel(r.Gpu, r.Model, r.TensorParallel),
    };
    private static readonly Lock s_lock = new();

    /// <summary>Kind used when none is named.</summary>
    public static string DefaultKind { get; set; } = Auto;

    public static IReadOnlyCollection<string> Kinds { get { lock (s_lock) return s_kinds.Keys.Order().ToArray(); } }

    /// <summary>Adds or replaces a cost-model kind.</summary>
    public static void Register(string kind, Func<CostModelRequest, ICostModel> build)
    {
        lock (s_lock) s_kinds[kind] = build;
    }

    public static ICostModel Create(CostModelRequest request)
    {
        Func<CostModelRequest, ICostModel>? build;
        lock (s_lock) s_kinds.TryGetValue(request.Kind, out build);
        if (build == null)
            throw new ArgumentException($"unknown cost model '{request.Kind}': expected one of {string.Join(", ", Kinds)}");
        return HostOverheadCostModel.Wrap(build(request), request.IterationOverheadSeconds);
    }

    /// <summary>
    /// The shipped profile for the request's GPU, model and tp under its profile root: a measured one, else one derived
    /// from a measurement on another GPU (calibration/derived/..., marked derived wherever it is shown); null when neither ships.
    /// </summary>
    public static string? FindProfile(CostModelRequest r) => FindMeasuredProfile(r) ?? FindDerivedProfile(r);

    /// <summary>
    /// A warning when the working directory's calibration/ (where `joules calibrate` writes by default) holds a
    /// different file at the place of <paramref name="used"/>, the profile found under <paramref name="profileRoot"/>:
    /// a built or published joules prices with the profiles copied beside it, so a profile calibrated (or pulled) since
    /// would otherwise be passed over without a word. Null when there is none, it is the same file, or the same bytes.
    /// </summary>
    public static string? ShadowedProfileWarning(string? used, string? profileRoot, string? workingDirectory = null)
    {
        if (used is null || profileRoot is null || !File.Exists(used)) return null;
        var relative = Path.GetRelativePath(Path.GetFullPath(profileRoot), Path.GetFullPath(used));
        if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative)) return null;
        var local = Path.GetFullPath(Path.Combine(workingDirectory ?? Directory.GetCurrentDirectory(), "calibration", relative));
        if (!File.Exists(local) || string.Equals(local, Path.GetFullPath(used), StringComparison.Ordinal)) return null;
        if (SameBytes(local, used)) return null;
        var shown = Path.GetRelativePath(workingDirectory ?? Directory.GetCurrentDirectory(), local);
        return $"{shown} differs from the profile this joules prices with ({used}, the copy made when it was built or published): pass --profile {shown} to use it, or rebuild";
    }

    private static bool SameBytes(string a, string b) =>
        new FileInfo(a).Length == new FileInfo(b).Length && Joules.Profiles.Derived.ProfileDeriver.Sha256(a) == Joules.Profiles.Derived.ProfileDeriver.Sha256(b);

    /// <summary>The shipped measured profile for the request's deployment, or null.</summary>
    public static string? FindMeasuredProfile(CostModelRequest r)
    {
        if (r.ProfileRoot == null) return null;
        var path = ProfileCostModel.DefaultPath(r.Gpu.Name, r.Model.Name, r.TensorParallel, r.ProfileRoot);
        return File.Exists(path) ? path : null;
    }

    /// <summary>The shipped derived profile for the request's deployment, or null.</summary>
    public static string? FindDerivedProfile(CostModelRequest r)
    {
        if (r.ProfileRoot == null) return null;
        var path = Joules.Profiles.Derived.ProfileDeriver.DefaultPath(r.Gpu.Name, r.Model.Name, r.TensorParallel, r.ProfileRoot);
        return File.Exists(path) ? path : null;
    }

    /// <summary>
    /// The GPU for a scenario that names none: <paramref name="preferred"/> when a measured profile for the model and tp
    /// ships for it under <paramref name="profileRoot"/>, else the first catalog GPU that has one, else
    /// <paramref name="preferred"/> (priced by roofline).
    /// </summary>
    public static GpuSpec DefaultGpu(GpuSpec preferred, ModelCard model, int tp, string? profileRoot)
    {
        // Measured data should be the default wherever it exists; a derived or datasheet estimate is the fallback, not the rule.
        bool HasProfile(GpuSpec g) => FindMeasuredProfile(new CostModelRequest(Auto, g, model, tp, null, profileRoot)) != null;
        if (profileRoot == null || HasProfile(preferred)) return preferred;
        return Catalog.Gpus.Values.OrderBy(g => g.Name, StringComparer.Ordinal).FirstOrDefault(HasProfile) ?? preferred;
    }

    private static ProfileCostModel LoadProfile(CostModelRequest r)
    {
        var path = r.ProfilePath ?? FindProfile(r) ?? throw new ArgumentException(
            $"no measured profile for {r.Gpu.Name} / {r.Model.Name}" + (r.TensorParallel > 1 ? $" at tp {r.TensorParallel}" : "") +
            (r.ProfileRoot == null ? "" : $" under {r.ProfileRoot}") + ": pass --profile FILE, calibrate one with `joules calibrate`, or use --cost-model roofline");
        if (!File.Exists(path)) throw new FileNotFoundException($"profile '{path}' does not exist", path);
        var model = ProfileCostModel.FromFile(path);
        // A profile prices one deployment; silently applying it to another would report wrong energy.
        if (!string.Equals(model.Model.Name, r.Model.Name, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"profile '{path}' was measured for model {model.Model.Name}, but the scenario runs {r.Model.Name}");
        if (model.TensorParallel != r.TensorParallel)
            throw new ArgumentException($"profile '{path}' was measured at tp {model.TensorParallel}, but the scenario uses tp {r.TensorParallel}");
        if (!string.Equals(model.Gpu.Name, r.Gpu.Name, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"profile '{path}' was measured on {model.Gpu.Name}, but the scenario names GPU {r.Gpu.Name}");
        return model;
    }
}

/// <summary>The kind name of a built cost model, for reports.</summary>
public static class CostModelKinds
{
    /// <summary>The model under any wrapper (host overhead, mean or measured per iteration) that only adds to its figures.</summary>
    public static ICostModel Unwrap(ICostModel cost) => cost switch
    {
        HostOverheadCostModel h => Unwrap(h.Inner),
        MeasuredHostTimeCostModel m => Unwrap(m.Inner),
        _ => cost,
    };

    public static string Of(ICostModel cost) => cost switch
    {
        HostOverheadCostModel h => Of(h.Inner),
        MeasuredHostTimeCostModel m => Of(m.Inner),
        ProfileCostModel { IsDerived: true } => "derived",
        ProfileCostModel => CostModelFactory.Profile,
        RooflineCostModel => CostModelFactory.Roofline,
        _ => cost.Name.Split(':')[0],
    };
}

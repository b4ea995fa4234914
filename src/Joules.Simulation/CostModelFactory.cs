using Joules.Profiles;
using Joules.Profiles.Roofline;

namespace Joules.Simulation;

/// <summary>What a cost model is built from: its kind, the deployment, and for measured kinds the profile file.</summary>
public sealed record CostModelRequest(string Kind, GpuSpec Gpu, ModelCard Model, int TensorParallel, string? ProfilePath = null);

/// <summary>
/// The one place cost models are made, by kind name. "roofline" is built in; a measured-profile cost
/// model plugs in with <see cref="Register"/> (for example <c>Register("profile", r => MeasuredCostModel.Load(r.ProfilePath!, r.Gpu, r.Model, r.TensorParallel))</c>),
/// and <see cref="DefaultKind"/> can then point at it.
/// </summary>
public static class CostModelFactory
{
    public const string Roofline = "roofline";
    /// <summary>The kind used when a profile file is given without an explicit kind.</summary>
    public const string Profile = "profile";

    private static readonly Dictionary<string, Func<CostModelRequest, ICostModel>> s_kinds = new(StringComparer.OrdinalIgnoreCase)
    {
        [Roofline] = r => new RooflineCostModel(r.Gpu, r.Model, r.TensorParallel),
    };
    private static readonly Lock s_lock = new();

    /// <summary>Kind used when none is named (roofline until a measured default is registered).</summary>
    public static string DefaultKind { get; set; } = Roofline;

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
        {
            var hint = request.Kind.Equals(Profile, StringComparison.OrdinalIgnoreCase)
                ? " (measured profiles are not available in this build)"
                : "";
            throw new ArgumentException($"unknown cost model '{request.Kind}'{hint}: expected one of {string.Join(", ", Kinds)}");
        }
        return build(request);
    }
}

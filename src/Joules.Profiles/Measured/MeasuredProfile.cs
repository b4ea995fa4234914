namespace Joules.Profiles.Measured;

/// <summary>A calibration profile in memory: metadata plus one row per measured point.</summary>
public sealed class MeasuredProfile
{
    public MeasuredProfile(ProfileMetadata metadata, IReadOnlyList<ProfilePoint> points)
    {
        Metadata = metadata;
        Points = points;
    }

    public ProfileMetadata Metadata { get; }
    public IReadOnlyList<ProfilePoint> Points { get; }

    /// <summary>The measured idle point, if the profile has one.</summary>
    public ProfilePoint? Idle => Points.FirstOrDefault(p => p.Phase == ProfilePhase.Idle);

    /// <summary>Idle power of one GPU: the idle point's mean power, else the metadata figure.</summary>
    public double IdlePowerWatts => Idle?.MeanPowerWatts is > 0 and var w ? w : Metadata.IdlePowerWatts;

    /// <summary>SM clock targets present in the profile (null = default clocks), default first.</summary>
    public IReadOnlyList<int?> ClockTargets =>
        Points.Where(p => p.Phase != ProfilePhase.Idle).Select(p => p.SmClockTarget).Distinct().OrderBy(c => c ?? -1).ToArray();

    /// <summary>This profile with a different set of points (same metadata); used for cross-validation.</summary>
    public MeasuredProfile WithPoints(IReadOnlyList<ProfilePoint> points) => new(Metadata, points);

    /// <summary>Reads a profile file (format by extension, see <see cref="ProfileReader"/>).</summary>
    public static MeasuredProfile Load(string path) => ProfileReader.Read(path);

    /// <summary>Writes this profile (format by extension, see <see cref="ProfileWriter"/>).</summary>
    public void Save(string path) => ProfileWriter.Write(this, path);
}

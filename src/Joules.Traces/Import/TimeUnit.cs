namespace Joules.Traces.Import;

/// <summary>How a numeric arrival column is measured; absolute date-time strings need no unit.</summary>
public enum TimeUnit
{
    Seconds,
    Milliseconds,
    Microseconds,
}

using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using Joules.Output;
using Xunit;

namespace Joules.Output.Tests;

/// <summary>Doubles that are not numbers are written as JSON null (a number any reader takes) and read back.</summary>
public class NonFiniteAsNullTests
{
    private sealed record Figures(double Measured, double NotMeasured);

    private static readonly JsonSerializerOptions s_options = new() { Converters = { NonFiniteAsNull.Instance } };

    [Fact]
    public void NaNAndInfinitiesAreNullAndComeBackAsNaN()
    {
        var json = JsonSerializer.Serialize(new Figures(1.5, double.NaN), s_options);
        Assert.Equal("""{"Measured":1.5,"NotMeasured":null}""", json);
        Assert.Equal("""{"Measured":null,"NotMeasured":null}""", JsonSerializer.Serialize(new Figures(double.PositiveInfinity, double.NegativeInfinity), s_options));
        var back = JsonSerializer.Deserialize<Figures>(json, s_options)!;
        Assert.Equal(1.5, back.Measured);
        Assert.True(double.IsNaN(back.NotMeasured));
        // Files written before (named literals as strings) still read.
        var old = JsonSerializer.Deserialize<Figures>("""{"Measured":"Infinity","NotMeasured":"NaN"}""", s_options)!;
        Assert.Equal(double.PositiveInfinity, old.Measured);
        Assert.True(double.IsNaN(old.NotMeasured));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Figures>("""{"Measured":"lots","NotMeasured":1}""", s_options));
    }

    [Fact]
    public void EveryFiniteDoubleRoundTripsExactly()
    {
        Prop.ForAll<double>(v =>
        {
            if (!double.IsFinite(v)) return true;
            var back = JsonSerializer.Deserialize<Figures>(JsonSerializer.Serialize(new Figures(v, v), s_options), s_options)!;
            return back.Measured.Equals(v) && back.NotMeasured.Equals(v);
        }).QuickCheckThrowOnFailure();
    }
}

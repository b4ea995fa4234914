using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using Joules.Traces.Import;
using Xunit;

namespace Joules.Traces.Tests;

public class TimeTextTests
{
    private static long General(string s) =>
        (DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal).UtcTicks - DateTime.UnixEpoch.Ticks) / 10;

    [Theory]
    [InlineData("2023-11-16 18:15:46.6805900")]
    [InlineData("2024-05-10 00:00:00.009930+00:00")]
    [InlineData("2024-05-10 02:00:00.5+02:00")]
    [InlineData("2024-05-09 20:30:00-03:30")]
    [InlineData("2024-01-01T00:00:01Z")]
    [InlineData("1970-01-01 00:00:00")]
    [InlineData("1969-12-31 23:59:59.999999")]
    [InlineData("2024-02-29T12:00:00.123456Z")]
    public void FastPathAgreesWithTheGeneralParser(string s)
    {
        Assert.True(TimeText.TryParseIso(s, out var fast));
        Assert.Equal(General(s), fast);
    }

    [Theory]
    [InlineData("2023-02-29 00:00:00")]
    [InlineData("2023-11-16 24:00:00")]
    [InlineData("2023-11-16 18:15")]
    [InlineData("2023-11-16 18:15:46.")]
    [InlineData("2023-11-16 18:15:46 UTC")]
    [InlineData("16/11/2023 18:15:46")]
    public void FastPathDeclinesWhatItDoesNotKnow(string s) => Assert.False(TimeText.TryParseIso(s, out _));

    [Fact]
    public void FastPathMatchesGeneralParserOnRandomTimes()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), Arb.From(Gen.Choose(0, 9_999_999)), Arb.From(Gen.Choose(-14 * 4, 14 * 4)), (seconds, ticks, quarterHours) =>
        {
            var t = DateTime.UnixEpoch.AddSeconds(seconds).AddTicks(ticks);
            var off = TimeSpan.FromMinutes(quarterHours * 15);
            var text = new DateTimeOffset(t.Ticks, off).ToString("yyyy-MM-dd HH:mm:ss.fffffffzzz", CultureInfo.InvariantCulture);
            return TimeText.TryParseIso(text, out var fast) && fast == General(text);
        }).QuickCheckThrowOnFailure();
    }
}

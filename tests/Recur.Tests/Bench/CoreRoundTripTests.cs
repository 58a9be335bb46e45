using Recur.Cli.Bench;

namespace Recur.Tests.Bench;

/// <summary>
/// The bench's cross-core round trip: a plausible figure, and the caller's processor affinity left as it was. Runs
/// alone (the engine-threads collection), so the probe's two threads have the cores to themselves.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public class CoreRoundTripTests
{
    [Fact]
    public void MeasuresAPlausibleRoundTripAndRestoresTheCallersAffinity()
    {
        var before = CoreRoundTrip.CurrentAffinity();
        double? ns = CoreRoundTrip.Nanoseconds();
        var after = CoreRoundTrip.CurrentAffinity();

        // Worker threads inherit the affinity of the thread that starts them: a pin left behind would put every later
        // engine worker on one processor.
        Assert.Equal(before, after);
        if (Environment.ProcessorCount < 2)
        {
            Assert.Null(ns);
            return;
        }
        Assert.NotNull(ns);
        // A line hand-off takes tens of nanoseconds at best (the same core complex) and about a microsecond at worst on
        // this test's shared machine. Under 10 ns would mean the threads never waited for each other; above 100 µs, that
        // the pair did not get both processors (the test runs alone, so it should).
        Assert.InRange(ns.Value, 10, 100_000);
    }
}

/// <summary>How the bench report flags a run whose machine changed state: a round trip that more than doubled.</summary>
public class RoundTripShiftTests
{
    private static BenchReport Report(double? firstNs, double? peerNs, double? endNs)
    {
        var report = new BenchReport { CoreRoundTripAtEndNs = endNs };
        report.Rows.Add(new BenchRow(BenchConfig.ByName("a"), "train", new Timing(1.0, 0.9, 1.1, 10, 3, 0), 2) { CoreRoundTripNs = firstNs });
        var libtorch = new PeerResult("libtorch", "libtorch");
        libtorch.RoundTrips["a"] = peerNs;
        report.Peers.Add(libtorch);
        return report;
    }

    [Fact]
    public void ARoundTripThatMoreThanDoublesIsFlaggedInJsonAndSummary()
    {
        var shifted = Report(150, 420, 160);
        Assert.True(shifted.RoundTripShifted);
        Assert.True(shifted.ToJson()["machine"]!["core_round_trip_shifted"]!.GetValue<bool>());
        string summary = shifted.Summary();
        Assert.Contains("a 150, libtorch a 420, end 160", summary);
        Assert.Equal(420, shifted.ToJson()["peers"]!["libtorch"]!["core_round_trip_ns"]!["a"]!.GetValue<double>());
        Assert.Contains("WARNING: the round trip changed more than twofold", summary);
    }

    [Fact]
    public void ASteadyOrMissingRoundTripIsNotFlagged()
    {
        var steady = Report(150, 290, 160);
        Assert.False(steady.RoundTripShifted);
        Assert.DoesNotContain("WARNING", steady.Summary());

        var unmeasured = Report(null, null, null);
        Assert.False(unmeasured.RoundTripShifted);
        Assert.DoesNotContain("core round trip", unmeasured.Summary());
    }
}

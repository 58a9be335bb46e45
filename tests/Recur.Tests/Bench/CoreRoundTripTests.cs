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

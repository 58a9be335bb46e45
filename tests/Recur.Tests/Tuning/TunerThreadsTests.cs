using Recur.Tensors;
using Recur.Tests.Cli;
using Recur.Tuning;

namespace Recur.Tests.Tuning;

/// <summary>
/// A study runs its trials at its own thread count (the process's threads divided between its workers) and gives the
/// caller's <see cref="Engine.Threads"/> back when it ends: the library's thread count is process-wide.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class TunerThreadsTests
{
    [Fact]
    public void TheStudyRunsAtItsThreadsAndGivesTheCallersBack()
    {
        using var dir = new TempDirectory();
        var config = TuneConfig.Parse("""{"data": "x.csv", "search": {"lr": {"type": "float", "low": 0.001, "high": 0.01}}}""", "t.json");
        using var storage = StudyStorage.Open($"sqlite:///{dir.File("s.db")}");
        var study = storage.CreateOrOpenStudy("t", config.SearchJson, config.Base.ToJson());
        using (Engine.UseThreads(3))
        {
            var seen = new List<int>();
            var options = new TuneOptions { Trials = 4, Workers = 2, Threads = 4, Sampler = "random" };
            var summary = new Tuner(config, storage, study, options, TextWriter.Null)
            {
                Objective = (_, _) =>
                {
                    lock (seen) seen.Add(Engine.Threads);
                    return 1;
                },
            }.Run();
            Assert.Equal(4, summary.Ran);
            Assert.Equal([2, 2, 2, 2], seen);
            Assert.Equal(3, Engine.Threads);
        }
    }
}

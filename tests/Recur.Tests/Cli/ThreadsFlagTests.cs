using Recur.Tensors;

namespace Recur.Tests.Cli;

/// <summary>
/// <c>--threads</c> holds for the command it is given to: run in-process, the command gives the engine's process-wide
/// thread count back when it ends, whether it succeeds or fails.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class ThreadsFlagTests
{
    [Fact]
    public void ACommandGivesTheEnginesThreadCountBack()
    {
        using var dir = new TempDirectory();
        using (Engine.UseThreads(3))
        {
            var (exit, _, _) = CliRunner.Run("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--epochs", "1", "--hidden", "8",
                "--threads", "1", "--out", dir.File("run"), "--quiet");
            Assert.Equal(0, exit);
            Assert.Equal(3, Engine.Threads);
            // Fails after setting the threads, when it reads the table: no column 'nope'.
            (exit, _, _) = CliRunner.Run("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--target", "nope", "--threads", "1",
                "--out", dir.File("bad"), "--quiet");
            Assert.Equal(2, exit);
            Assert.Equal(3, Engine.Threads);
        }
    }
}

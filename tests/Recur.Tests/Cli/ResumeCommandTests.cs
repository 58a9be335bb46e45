using System.Diagnostics;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --resume</c> after a real SIGKILL of the training process.</summary>
public class ResumeCommandTests
{
    [Fact]
    public void KilledTrainingResumesToTheSameModelBytes()
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile("sunspots-yearly.csv");
        string[] Args(string outDir) => ["train", "--data", data, "--season", "11", "--normalize", "relative", "--epochs", "40",
            "--dropout", "0.1", "--checkpoint-every", "2", "--out", outDir, "--quiet"];

        var reference = CliRunner.Run(Args(dir.File("reference")));
        Assert.True(reference.exit == 0, reference.stderr);

        // The same command in its own process, killed (SIGKILL) once it has written two checkpoints.
        string interrupted = dir.File("interrupted");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Recur.Cli.dll"));
        foreach (var arg in Args(interrupted)) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        string checkpoints = Path.Combine(interrupted, "checkpoints", "relative");
        var clock = Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(checkpoints, "previous.ckpt")) && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
            Thread.Sleep(1);
        // Decide before reading anything that waits for the process (its output streams close only when it ends).
        bool running = !process.HasExited;
        Assert.True(running, "training ended before two checkpoints were written, so there was nothing to interrupt");
        long killedAt = clock.ElapsedMilliseconds;
        using (var kill = Process.Start("kill", ["-KILL", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        process.WaitForExit();
        Assert.True(process.ExitCode == 137, $"kill at {killedAt} ms: exit {process.ExitCode}");
        Assert.False(File.Exists(Path.Combine(interrupted, "model.safetensors")));

        // A checkpoint torn by the kill is detected and the one before it used.
        string last = Path.Combine(checkpoints, "last.ckpt");
        if (File.Exists(last))
        {
            var bytes = File.ReadAllBytes(last);
            File.WriteAllBytes(last, bytes[..(bytes.Length * 2 / 3)]);
        }

        // The run directory may move before it is resumed: --resume continues the directory it names.
        string moved = dir.File("moved");
        Directory.Move(interrupted, moved);
        Directory.CreateDirectory(interrupted);
        File.WriteAllText(Path.Combine(interrupted, "thesis.tex"), "not a run");
        interrupted = moved;
        var resumed = CliRunner.Run("train", "--resume", interrupted, "--quiet");
        Assert.True(resumed.exit == 0, resumed.stderr);
        Assert.Contains("resumed from", resumed.stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("reference"), "model.safetensors")),
            File.ReadAllBytes(Path.Combine(interrupted, "model.safetensors")));
        Assert.False(Directory.Exists(Path.Combine(interrupted, "checkpoints")), "a completed run keeps no checkpoints");
        Assert.Equal("not a run", File.ReadAllText(dir.File("interrupted/thesis.tex")));
    }

    [Fact]
    public void ResumeRefusesOtherFlagsAndDirectoriesWithoutCheckpoints()
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = CliRunner.Run("train", "--resume", dir.Path);
        Assert.Equal(2, exit);
        Assert.Contains("no checkpoints", stderr);
        (exit, _, stderr) = CliRunner.Run("train", "--resume", dir.Path, "--epochs", "3");
        Assert.Equal(2, exit);
        Assert.Contains("only --quiet and --json", stderr);
    }
}

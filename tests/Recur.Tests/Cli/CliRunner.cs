using System.Text.Json.Nodes;
using Recur.Cli;

namespace Recur.Tests.Cli;

/// <summary>Runs the <c>recur</c> command in process, capturing its streams, with paths into the repository's data/.</summary>
internal static class CliRunner
{
    public static (int exit, string stdout, string stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = RecurCommand.Run(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs a command that must succeed with <c>--json</c> output and returns the parsed object.</summary>
    public static JsonObject Json(params string[] args)
    {
        var (exit, stdout, stderr) = Run(args);
        Assert.True(exit == 0, $"recur {string.Join(' ', args)} exited {exit}: {stderr}");
        return JsonNode.Parse(stdout)!.AsObject();
    }

    public static string DataFile(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Recur.sln"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("Recur.sln not found above the test directory."), "data", name);
    }
}

/// <summary>A unique temporary directory, removed on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "recur-test-" + Guid.NewGuid().ToString("N"));

    public TempDirectory() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}

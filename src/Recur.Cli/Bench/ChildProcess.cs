using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Recur.Cli.Bench;

/// <summary>Outcome of a child process: its exit code (null when it did not start or was killed), output and state.</summary>
internal sealed record ChildResult(int? ExitCode, string Stdout, string Stderr, bool Started, bool TimedOut, double Seconds)
{
    public bool Ok => Started && !TimedOut && ExitCode == 0;

    /// <summary>One line saying why the run failed, with the tail of its error output.</summary>
    public string Failure()
    {
        if (!Started) return "could not start: " + Stderr.Trim();
        string tail = Tail(Stderr.Length > 0 ? Stderr : Stdout, 300);
        return TimedOut ? $"timed out after {Seconds:F0} s and was stopped{(tail.Length > 0 ? ": " + tail : "")}"
            : $"exited {ExitCode}{(tail.Length > 0 ? ": " + tail : "")}";
    }

    private static string Tail(string text, int chars)
    {
        text = text.Trim().ReplaceLineEndings(" | ");
        return text.Length <= chars ? text : "…" + text[^chars..];
    }
}

/// <summary>Runs a peer as a child process with a time limit; a hung peer is killed with its process tree.</summary>
internal static class ChildProcess
{
    public static ChildResult Run(string file, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null, Action<string>? onLine = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (key, value) in environment)
            {
                if (value is null) info.Environment.Remove(key);
                else info.Environment[key] = value;
            }
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.AppendLine(e.Data);
            onLine?.Invoke(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
        };
        try
        {
            if (!process.Start()) return new ChildResult(null, "", $"{file} did not start", false, false, 0);
        }
        catch (Win32Exception e)
        {
            return new ChildResult(null, "", $"{file}: {e.Message}", false, false, 0);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool exited = process.WaitForExit((int)Math.Min(int.MaxValue, timeout.TotalMilliseconds));
        if (!exited)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // it exited between the wait and the kill
            }
            process.WaitForExit(5000);
        }
        else
        {
            process.WaitForExit(); // drains the asynchronous readers
        }
        string o, err;
        lock (stdout) o = stdout.ToString();
        lock (stderr) err = stderr.ToString();
        return new ChildResult(exited ? process.ExitCode : null, o, err, true, !exited, clock.Elapsed.TotalSeconds);
    }
}

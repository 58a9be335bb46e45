namespace Recur.Serialization;

/// <summary>
/// A model file that is missing or not a valid Recur safetensors file. The message reads
/// "model file PATH PROBLEM", e.g. "model file run/model.safetensors does not exist", so the command-line tool can
/// print it alone.
/// </summary>
public sealed class ModelFileException : InvalidInputException
{
    /// <summary>The file (or in-memory source name) that was being read.</summary>
    public string ModelPath { get; }

    /// <param name="path">The file, as the user named it.</param>
    /// <param name="problem">A predicate completing "model file PATH …", e.g. "does not exist".</param>
    public ModelFileException(string path, string problem)
        : base($"model file {path} {problem}") => ModelPath = path;

    public ModelFileException(string path, string problem, Exception inner)
        : base($"model file {path} {problem}", inner) => ModelPath = path;
}

namespace Recur.Training.Checkpoints;

/// <summary>Where a workflow keeps its checkpoints, and notes (such as the run's config) stored in each.</summary>
public sealed record CheckpointSettings(string Directory, IReadOnlyDictionary<string, string> Notes);

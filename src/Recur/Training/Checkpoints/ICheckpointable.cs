namespace Recur.Training.Checkpoints;

/// <summary>A callback whose state must survive a resume for the run to end bit-identical.</summary>
public interface ICheckpointable
{
    /// <summary>Writes the state under keys starting with <paramref name="prefix"/>.</summary>
    void SaveState(CheckpointData data, string prefix);

    /// <summary>Reads the state written by <see cref="SaveState"/>.</summary>
    void LoadState(CheckpointData data, string prefix);
}

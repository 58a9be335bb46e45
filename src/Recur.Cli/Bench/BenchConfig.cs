using Recur.Layers;

namespace Recur.Cli.Bench;

/// <summary>
/// One benchmark configuration of the performance issue: a recurrent stack over [B, T, I] with a linear head on the
/// last state. FLOPs follow DESIGN: forward = 2·gates·H·(I+H) per step, per sequence, per layer (layers above the
/// first read H inputs); a training step counts 3× forward.
/// </summary>
internal sealed record BenchConfig(string Name, CellKind Cell, int Input, int Hidden, int Layers, int Steps, int Batch)
{
    public int Gates => Cell switch { CellKind.Lstm => 4, CellKind.Gru => 3, _ => 1 };

    public double ForwardFlops
    {
        get
        {
            double perStep = 0;
            for (int l = 0; l < Layers; l++) perStep += 2.0 * Gates * Hidden * ((l == 0 ? Input : Hidden) + Hidden);
            return perStep * Steps * Batch;
        }
    }

    public double TrainingFlops => 3 * ForwardFlops;

    public string Describe() =>
        $"{RecurrentLayers.Name(Cell).ToUpperInvariant()} I{Input} H{Hidden} x{Layers}, T{Steps} B{Batch}";

    /// <summary>The training configurations a–d.</summary>
    public static readonly IReadOnlyList<BenchConfig> Training =
    [
        new("a", CellKind.Lstm, 8, 64, 1, 50, 32),
        new("b", CellKind.Lstm, 32, 256, 2, 100, 64),
        new("c", CellKind.Gru, 32, 256, 2, 100, 64),
        new("d", CellKind.Lstm, 1024, 1024, 1, 25, 128),
    ];

    /// <summary>Configurations also timed forward only (inference).</summary>
    public static readonly IReadOnlyList<string> Inference = ["b", "d"];

    /// <summary>Batch-1 streaming: LSTM I8 H128, one time step per call, carrying the state.</summary>
    public static readonly BenchConfig Streaming = new("stream", CellKind.Lstm, 8, 128, 1, 1, 1);

    /// <summary>Configurations whose 1→2-thread speed-up is reported.</summary>
    public static readonly IReadOnlyList<string> ThreadScaling = ["b", "d"];

    public static readonly IReadOnlyList<string> AllNames = ["a", "b", "c", "d", "stream"];

    public static BenchConfig ByName(string name) => Training.First(c => c.Name == name);
}

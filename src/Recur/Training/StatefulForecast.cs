using Recur.Data;
using Recur.Layers;
using Recur.Models;

namespace Recur.Training;

/// <summary>
/// <c>--task forecast --stateful</c>: a per-step forecaster trained by truncated back-propagation through time over
/// each series' whole training part (<see cref="ForecastStreams"/>), its recurrent state carried from one window of
/// <c>--bptt</c> steps to the next, detached, and reset at every epoch start. Its output at row r forecasts rows
/// r+1 … r+H from every row up to r, so it is scored at exactly the windowed forecaster's origins after one pass
/// over each series' history.
/// </summary>
public static class StatefulForecast
{
    /// <summary>Default truncation window, in steps.</summary>
    public const int DefaultBptt = 50;

    /// <summary>Steps per forward pass when scoring: any length gives the same forecasts (the state is carried), this one bounds memory.</summary>
    public const int ScoringWindow = 256;

    /// <summary>
    /// Refuses the options a stateful forecaster cannot honour, each with the reason: window normalisations (a
    /// stateful model has no window to normalise by), a backward direction (it would read the future), attention
    /// pooling or an attention decoder (they summarise one window), augmentations and curricula (they reorder or
    /// reshape windows).
    /// </summary>
    public static void Check(TrainConfig c)
    {
        if (c.Normalize is string n && n.Trim().ToLowerInvariant() is not ("auto" or "global"))
            throw new InvalidInputException($"--normalize {n}: a stateful forecaster reads each series as one stream, with no window to make values relative to; " +
                                            "it uses global scaling (--normalize global or auto). Drop --normalize or --stateful.");
        if (c.Bidirectional == true)
            throw new InvalidInputException("--bidirectional: a stateful forecaster predicts from every step, and a backward direction would read the rows it predicts; drop --bidirectional or --stateful.");
        if (c.Attention is string a && AttentionKinds.Parse(a) != AttentionKind.None)
            throw new InvalidInputException("--attention: attention pools one window, and a stateful forecaster has no windows, only its carried state; drop --attention or --stateful.");
        if (c.Decoder?.Trim().ToLowerInvariant() == "attention")
            throw new InvalidInputException("--decoder attention: the encoder–decoder reads one window; a stateful forecaster forecasts from its carried state at every step; drop --decoder or --stateful.");
        if (c.Augment is not null)
            throw new InvalidInputException("--augment: augmentations reshape independent windows; stateful training reads each series in order; drop --augment or --stateful.");
        if (c.Curriculum is not null)
            throw new InvalidInputException("--curriculum: stateful training reads each series' windows in order, which a curriculum would reorder; drop --curriculum or --stateful.");
    }

    /// <summary>The per-step model: the usual stack, one-directional, with a head of T·H outputs at every step.</summary>
    internal static SequenceModelSpec Spec(TrainConfig c, int outputs, int features) => WorkflowOptions.Stack(new()
    {
        Cell = RecurrentLayers.ParseCell(c.Cell!), InputSize = features, HiddenSize = c.Hidden!.Value,
        Layers = c.Layers!.Value, Dropout = c.Dropout!.Value, OutputSize = outputs, PerStep = true, Stateful = true,
    }, c, perStepCausal: true);

    /// <summary>
    /// Forecasts [N, T·H] in original units at the given origins of each series (series after series, origins in
    /// order): one stateful pass per series from its first row, reading the output at every origin.
    /// </summary>
    public static double[] Forecast(SequenceModel model, IReadOnlyList<ForecastWindows> series, IReadOnlyList<ForecastScaling> scalings, IReadOnlyList<int[]> origins)
    {
        var data = ForecastStreams.Scoring(series, scalings, origins, ScoringWindow);
        int S = data.Streams, K = data.Steps, O = model.Spec.OutputSize, T = scalings.Count, H = O / T;
        var offsets = new int[S + 1];
        for (int s = 0; s < S; s++) offsets[s + 1] = offsets[s] + origins[s].Length;
        var index = origins.Select(o => o.Select((row, i) => (row, i)).ToDictionary(p => p.row, p => p.i)).ToArray();
        var result = new double[offsets[S] * O];
        Trainer.PredictBatches(model, data, (start, inputs, output) =>
        {
            for (int b = 0; b < inputs.Batch; b++)
            {
                int s = (start + b) % S, first = (start + b) / S * K;
                for (int t = 0; t < K; t++)
                {
                    if (!index[s].TryGetValue(first + t, out int at)) continue;
                    for (int k = 0; k < T; k++)
                        for (int h = 0; h < H; h++)
                        {
                            int o = k * H + h;
                            result[(offsets[s] + at) * O + o] = scalings[k].Center + scalings[k].Scale * (double)output[(b * K + t) * O + o];
                        }
                }
            }
        }, stateful: true);
        return result;
    }
}

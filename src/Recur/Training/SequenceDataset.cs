using Recur.Models;
using Recur.Tensors;

namespace Recur.Training;

/// <summary>
/// N equal-length sequences with their targets, ready for batching. Inputs are numeric values [N, T, F] or token
/// ids [N, T]; targets are regression values [N, O] or class indices [N].
/// </summary>
public sealed class SequenceDataset
{
    private SequenceDataset(int count, int steps, int features, float[]? values, int[]? tokens, float[]? targets, int outputs, int[]? labels)
    {
        (Count, Steps, Features, Values, Tokens, Targets, Outputs, Labels) = (count, steps, features, values, tokens, targets, outputs, labels);
    }

    /// <summary>values: [N, T, F]; targets: [N, O].</summary>
    public static SequenceDataset Regression(float[] values, int count, int steps, int features, float[] targets, int outputs)
    {
        Check(values.Length, count * steps * features, "values [N, T, F]");
        Check(targets.Length, count * outputs, "targets [N, O]");
        return new(count, steps, features, values, null, targets, outputs, null);
    }

    /// <summary>Numeric sequences [N, T, F] with class labels [N].</summary>
    public static SequenceDataset Classification(float[] values, int count, int steps, int features, int[] labels)
    {
        Check(values.Length, count * steps * features, "values [N, T, F]");
        Check(labels.Length, count, "labels [N]");
        return new(count, steps, features, values, null, null, 0, labels);
    }

    /// <summary>Token sequences [N, T] with class labels [N].</summary>
    public static SequenceDataset TokenClassification(int[] tokens, int count, int steps, int[] labels)
    {
        Check(tokens.Length, count * steps, "tokens [N, T]");
        Check(labels.Length, count, "labels [N]");
        return new(count, steps, 0, null, tokens, null, 0, labels);
    }

    public int Count { get; }
    public int Steps { get; }
    public int Features { get; }
    public float[]? Values { get; }
    public int[]? Tokens { get; }
    public float[]? Targets { get; }
    public int Outputs { get; }
    public int[]? Labels { get; }
    public bool IsClassification => Labels is not null;

    /// <summary>Per-class loss weights [C] for imbalanced labels (PyTorch's <c>weight</c>); null weighs every class 1.</summary>
    public float[]? ClassWeights { get; private init; }

    /// <summary>The same sequences and labels with per-class loss weights [C].</summary>
    public SequenceDataset WithClassWeights(float[]? weights) =>
        new(Count, Steps, Features, Values, Tokens, Targets, Outputs, Labels) { ClassWeights = weights };

    /// <summary>
    /// sklearn's "balanced" weights from these labels: w_c = N / (C · n_c), so every class carries the same total
    /// weight; a class absent here gets weight 1.
    /// </summary>
    public static float[] BalancedWeights(ReadOnlySpan<int> labels, int classes)
    {
        var counts = new int[classes];
        foreach (int label in labels) counts[label]++;
        var weights = new float[classes];
        for (int c = 0; c < classes; c++) weights[c] = counts[c] == 0 ? 1f : (float)(labels.Length / ((double)classes * counts[c]));
        return weights;
    }

    /// <summary>The inputs of the given rows, in that order.</summary>
    /// <summary>
    /// The inputs of the given rows, in that order; with <paramref name="lastSteps"/>, only each sequence's last
    /// steps (the most recent values, or a text's last characters), as a length curriculum feeds them.
    /// </summary>
    public SequenceBatch Inputs(ReadOnlySpan<int> rows, int? lastSteps = null)
    {
        int B = rows.Length, T = Steps, L = Math.Clamp(lastSteps ?? T, 1, T), skip = T - L;
        if (Tokens is not null)
        {
            var tokens = new int[B * L];
            for (int b = 0; b < B; b++) Tokens.AsSpan(rows[b] * T + skip, L).CopyTo(tokens.AsSpan(b * L));
            return new SequenceBatch(B, L, null, tokens);
        }
        int F = Features;
        var values = new Tensor(B, L, F);
        for (int b = 0; b < B; b++) Values.AsSpan((rows[b] * T + skip) * F, L * F).CopyTo(values.Data.AsSpan(b * L * F));
        return new SequenceBatch(B, L, values, null);
    }

    /// <summary>Regression targets [B, O] of the given rows.</summary>
    public Tensor TargetBatch(ReadOnlySpan<int> rows)
    {
        var y = new Tensor(rows.Length, Outputs);
        for (int b = 0; b < rows.Length; b++) Targets.AsSpan(rows[b] * Outputs, Outputs).CopyTo(y.Data.AsSpan(b * Outputs));
        return y;
    }

    public int[] LabelBatch(ReadOnlySpan<int> rows)
    {
        var labels = new int[rows.Length];
        for (int b = 0; b < rows.Length; b++) labels[b] = Labels![rows[b]];
        return labels;
    }

    private static void Check(int found, int expected, string what)
    {
        if (found != expected) throw new ArgumentException($"Dataset {what} needs {expected} values; found {found}.");
    }
}

using System.Numerics;

namespace Recur.Losses;

/// <summary>
/// Mean squared error, as PyTorch's <c>MSELoss</c> (mean reduction):
/// <c>loss = (1/N) Σₙ (predictionₙ − targetₙ)²</c>.
/// Shapes: prediction, target, dPrediction <c>[N]</c> — N elements, any tensor shape flattened.
/// Sums accumulate in double whatever the number type T is; an empty input gives loss 0.
/// The masked form weighs whole rows: prediction, target <c>[N, C]</c>, rowMask <c>[N]</c> (1 real, 0 ignored),
/// <c>loss = Σₙ mₙ Σ_c (pₙ_c − tₙ_c)² / (C · Σₙ mₙ)</c>, 0 when no row counts (per-step regression with padded or
/// target-less steps).
/// </summary>
public static class MeanSquaredError
{
    public static T Forward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target)
        where T : IFloatingPointIeee754<T>
    {
        LossGuard.SameLength(prediction, target);
        if (prediction.IsEmpty) return T.Zero;
        double sum = 0;
        for (int n = 0; n < prediction.Length; n++)
        {
            T diff = prediction[n] - target[n];
            sum += double.CreateTruncating(diff * diff);
        }
        return T.CreateTruncating(sum / prediction.Length);
    }

    /// <summary>Adds <c>dLoss · ∂loss/∂prediction</c> into <paramref name="dPrediction"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target, T dLoss, Span<T> dPrediction)
        where T : IFloatingPointIeee754<T>
    {
        LossGuard.SameLength(prediction, target);
        LossGuard.GradientLength(dPrediction, prediction.Length, nameof(dPrediction));
        if (prediction.IsEmpty) return;
        // loss = (1/N) Σ diffₙ²  →  dpredictionₙ = dLoss · 2·diffₙ / N
        T scale = dLoss * T.CreateTruncating(2.0 / prediction.Length);
        for (int n = 0; n < prediction.Length; n++)
            dPrediction[n] += scale * (prediction[n] - target[n]);
    }

    /// <summary>Masked mean over the rows with mask 1: prediction, target [N, C], rowMask [N].</summary>
    public static T Forward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target, ReadOnlySpan<T> rowMask)
        where T : IFloatingPointIeee754<T>
    {
        int columns = Columns(prediction, target, rowMask);
        double sum = 0, rows = 0;
        for (int n = 0; n < rowMask.Length; n++)
        {
            double m = double.CreateTruncating(rowMask[n]);
            if (m == 0) continue;
            rows += m;
            for (int c = n * columns; c < (n + 1) * columns; c++)
            {
                double diff = double.CreateTruncating(prediction[c] - target[c]);
                sum += m * diff * diff;
            }
        }
        return rows > 0 ? T.CreateTruncating(sum / (rows * columns)) : T.Zero;
    }

    /// <summary>Adds <c>dLoss · ∂loss/∂prediction</c> of the masked mean into <paramref name="dPrediction"/>; masked rows get nothing.</summary>
    public static void Backward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target, ReadOnlySpan<T> rowMask, T dLoss, Span<T> dPrediction)
        where T : IFloatingPointIeee754<T>
    {
        int columns = Columns(prediction, target, rowMask);
        LossGuard.GradientLength(dPrediction, prediction.Length, nameof(dPrediction));
        double rows = 0;
        foreach (var m in rowMask) rows += double.CreateTruncating(m);
        if (rows == 0) return;
        // loss = Σ mₙ diff² / (C Σ m)  →  dpredictionₙ_c = dLoss · 2·mₙ·diff / (C Σ m)
        T scale = dLoss * T.CreateTruncating(2.0 / (rows * columns));
        for (int n = 0; n < rowMask.Length; n++)
        {
            if (rowMask[n] == T.Zero) continue;
            for (int c = n * columns; c < (n + 1) * columns; c++)
                dPrediction[c] += scale * rowMask[n] * (prediction[c] - target[c]);
        }
    }

    /// <summary>C: columns per row, checking that prediction and target are [N, C] for a mask of N rows.</summary>
    private static int Columns<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target, ReadOnlySpan<T> rowMask)
    {
        LossGuard.SameLength(prediction, target);
        if (rowMask.IsEmpty || prediction.Length % rowMask.Length != 0)
            throw new ArgumentException($"rowMask must have one weight per row of prediction [N, C]: {prediction.Length} values cannot be {rowMask.Length} rows.", nameof(rowMask));
        return prediction.Length / rowMask.Length;
    }
}

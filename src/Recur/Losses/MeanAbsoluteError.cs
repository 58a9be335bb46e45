using System.Numerics;

namespace Recur.Losses;

/// <summary>
/// Mean absolute error, as PyTorch's <c>L1Loss</c> (mean reduction):
/// <c>loss = (1/N) Σₙ |predictionₙ − targetₙ|</c>, with the subgradient sign(0) = 0 as PyTorch takes it.
/// Shapes: prediction, target, dPrediction <c>[N]</c> — N elements, any tensor shape flattened.
/// Sums accumulate in double whatever the number type T is; an empty input gives loss 0.
/// </summary>
public static class MeanAbsoluteError
{
    public static T Forward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target)
        where T : IFloatingPointIeee754<T>
    {
        LossGuard.SameLength(prediction, target);
        if (prediction.IsEmpty) return T.Zero;
        double sum = 0;
        for (int n = 0; n < prediction.Length; n++)
            sum += double.CreateTruncating(T.Abs(prediction[n] - target[n]));
        return T.CreateTruncating(sum / prediction.Length);
    }

    /// <summary>Adds <c>dLoss · ∂loss/∂prediction</c> into <paramref name="dPrediction"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target, T dLoss, Span<T> dPrediction)
        where T : IFloatingPointIeee754<T>
    {
        LossGuard.SameLength(prediction, target);
        LossGuard.GradientLength(dPrediction, prediction.Length, nameof(dPrediction));
        if (prediction.IsEmpty) return;
        // loss = (1/N) Σ |diffₙ|  →  dpredictionₙ = dLoss · sign(diffₙ) / N
        T scale = dLoss * T.CreateTruncating(1.0 / prediction.Length);
        for (int n = 0; n < prediction.Length; n++)
        {
            T diff = prediction[n] - target[n];
            if (diff > T.Zero) dPrediction[n] += scale;
            else if (diff < T.Zero) dPrediction[n] -= scale;
        }
    }
}

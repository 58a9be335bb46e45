using System.Numerics;

namespace Recur.Losses;

/// <summary>
/// Mean squared error, as PyTorch's <c>MSELoss</c> (mean reduction):
/// <c>loss = (1/N) Σₙ (predictionₙ − targetₙ)²</c>.
/// Shapes: prediction, target, dPrediction <c>[N]</c> — N elements, any tensor shape flattened.
/// Sums accumulate in double whatever the number type T is; an empty input gives loss 0.
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
}

using System.Numerics;

namespace Recur.Losses;

/// <summary>
/// Huber loss, as PyTorch's <c>HuberLoss(delta)</c> (mean reduction). With <c>d = prediction − target</c>:
/// <c>ℓ(d) = ½d²</c> where <c>|d| &lt; δ</c>, else <c>δ(|d| − ½δ)</c>; <c>loss = (1/N) Σₙ ℓ(dₙ)</c>.
/// Quadratic near the target, linear (so robust to outliers) beyond δ.
/// Shapes: prediction, target, dPrediction <c>[N]</c> — N elements, any tensor shape flattened.
/// Sums accumulate in double whatever the number type T is; an empty input gives loss 0.
/// </summary>
public static class Huber
{
    /// <param name="prediction">[N]</param>
    /// <param name="target">[N]</param>
    /// <param name="delta">δ &gt; 0, where the loss turns from quadratic to linear (PyTorch's default 1).</param>
    public static T Forward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target, double delta = 1.0)
        where T : IFloatingPointIeee754<T>
    {
        LossGuard.SameLength(prediction, target);
        LossGuard.PositiveFinite(delta, nameof(delta));
        if (prediction.IsEmpty) return T.Zero;
        T d = T.CreateTruncating(delta);
        T half = T.CreateTruncating(0.5);
        double sum = 0;
        for (int n = 0; n < prediction.Length; n++)
        {
            T diff = prediction[n] - target[n];
            T abs = T.Abs(diff);
            T term = abs < d ? half * diff * diff : d * (abs - half * d);
            sum += double.CreateTruncating(term);
        }
        return T.CreateTruncating(sum / prediction.Length);
    }

    /// <summary>Adds <c>dLoss · ∂loss/∂prediction</c> into <paramref name="dPrediction"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target, T dLoss, Span<T> dPrediction,
        double delta = 1.0)
        where T : IFloatingPointIeee754<T>
    {
        LossGuard.SameLength(prediction, target);
        LossGuard.GradientLength(dPrediction, prediction.Length, nameof(dPrediction));
        LossGuard.PositiveFinite(delta, nameof(delta));
        if (prediction.IsEmpty) return;
        T d = T.CreateTruncating(delta);
        // ℓ'(diff) = diff inside [−δ, δ], ±δ outside: diff clamped to [−δ, δ]
        T scale = dLoss * T.CreateTruncating(1.0 / prediction.Length);
        for (int n = 0; n < prediction.Length; n++)
            dPrediction[n] += scale * T.Clamp(prediction[n] - target[n], -d, d);
    }
}

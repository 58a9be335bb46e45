using System.Numerics;

namespace Recur.Losses;

/// <summary>Argument checks shared by the loss kernels, so each kernel states its contract in one line.</summary>
internal static class LossGuard
{
    public static void SameLength<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target,
        string predictionName = "prediction", string targetName = "target")
    {
        if (prediction.Length != target.Length)
            throw new ArgumentException(
                $"{targetName} has {target.Length} elements but {predictionName} has {prediction.Length}; " +
                $"they must match element for element.", targetName);
    }

    public static void GradientLength<T>(Span<T> gradient, int expected, string gradientName)
    {
        if (gradient.Length != expected)
            throw new ArgumentException(
                $"{gradientName} has {gradient.Length} elements; expected {expected}, one per prediction element.",
                gradientName);
    }

    /// <summary>Every value must be ≥ 0 (NaN fails too).</summary>
    public static void NonNegative<T>(ReadOnlySpan<T> weights, string name) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < weights.Length; i++)
            if (!(weights[i] >= T.Zero))
                throw new ArgumentException(
                    $"{name}[{i}] = {weights[i]}; weights must be non-negative numbers.", name);
    }

    public static void PositiveFinite(double value, string name)
    {
        if (!(value > 0) || !double.IsFinite(value))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a positive finite number; found {value}.");
    }
}

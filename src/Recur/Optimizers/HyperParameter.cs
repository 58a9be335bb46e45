namespace Recur.Optimizers;

/// <summary>Range checks for optimizer hyperparameters; messages name the argument, the range and the value.</summary>
internal static class HyperParameter
{
    /// <summary>Requires a finite value ≥ 0 (NaN fails).</summary>
    public static double NonNegative(double value, string name)
    {
        if (!(value >= 0) || double.IsPositiveInfinity(value))
            throw new ArgumentOutOfRangeException(name, value,
                $"Argument '{name}' must be a finite number in [0, +inf); found {value}.");
        return value;
    }

    /// <summary>Requires 0 ≤ value &lt; 1 (a decay rate that must forget), or 0 ≤ value ≤ 1 when <paramref name="allowOne"/>.</summary>
    public static double Fraction(double value, string name, bool allowOne = false)
    {
        bool ok = allowOne ? value is >= 0 and <= 1 : value is >= 0 and < 1;
        if (!ok)
            throw new ArgumentOutOfRangeException(name, value,
                $"Argument '{name}' must be in [0, 1{(allowOne ? "]" : ")")}; found {value}.");
        return value;
    }
}

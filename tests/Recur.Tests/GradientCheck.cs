namespace Recur.Tests;

/// <summary>
/// Finite-difference gradient checks in double precision, for any operation whose scalar output can be
/// recomputed from a parameter array.
/// </summary>
public static class GradientCheck
{
    /// <summary>
    /// Central differences <c>(loss(x + h·eᵢ) − loss(x − h·eᵢ)) / 2h</c> for every element of
    /// <paramref name="parameter"/>, which <paramref name="loss"/> must read. Each element is perturbed in place and
    /// restored, also when <paramref name="loss"/> throws.
    /// </summary>
    public static double[] Numeric(Func<double> loss, double[] parameter, double h = 1e-6)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(parameter);
        var gradient = new double[parameter.Length];
        for (int i = 0; i < parameter.Length; i++)
        {
            double saved = parameter[i];
            try
            {
                parameter[i] = saved + h;
                double plus = loss();
                parameter[i] = saved - h;
                double minus = loss();
                gradient[i] = (plus - minus) / (2 * h);
            }
            finally
            {
                parameter[i] = saved;
            }
        }
        return gradient;
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ over the whole array (‖actual‖ when ‖expected‖ = 0).</summary>
    public static double RelativeError(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException(
                $"actual has {actual.Length} elements but expected has {expected.Length}.", nameof(actual));
        double difference = 0, expectedNorm = 0, actualNorm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            difference += d * d;
            expectedNorm += expected[i] * expected[i];
            actualNorm += actual[i] * actual[i];
        }
        return expectedNorm == 0 ? Math.Sqrt(actualNorm) : Math.Sqrt(difference / expectedNorm);
    }

    /// <summary>
    /// <see cref="RelativeError(ReadOnlySpan{double}, ReadOnlySpan{double})"/> of a float32 result against a
    /// double reference, computed in double.
    /// </summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        var widened = new double[actual.Length];
        for (int i = 0; i < actual.Length; i++) widened[i] = actual[i];
        return RelativeError(widened, expected);
    }
}

namespace Recur.Tests;

public static class GradientCheck
{
    public static double[] Numeric(Func<double> loss, double[] parameter, double h = 1e-6)
    {
        var grad = new double[parameter.Length];
        for (int i = 0; i < parameter.Length; i++)
        {
            double saved = parameter[i];
            parameter[i] = saved + h;
            double plus = loss();
            parameter[i] = saved - h;
            double minus = loss();
            parameter[i] = saved;
            grad[i] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    public static double RelativeError(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        double diff = 0, norm = 0, normA = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
            normA += actual[i] * actual[i];
        }
        return norm == 0 ? Math.Sqrt(normA) : Math.Sqrt(diff / norm);
    }
}

using Recur.Randomness;

namespace Recur.Initialization;

/// <summary>Seeded weight initialisers. Every draw comes from the caller's generator, in a fixed order.</summary>
public static class Initializers
{
    /// <summary>U(−limit, limit).</summary>
    public static void Uniform(Span<float> weights, double limit, RecurRandom random)
    {
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)random.Uniform(-limit, limit);
    }

    /// <summary>N(0, std²).</summary>
    public static void Normal(Span<float> weights, double std, RecurRandom random)
    {
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)(std * random.Normal());
    }

    /// <summary>Glorot (Xavier) uniform: U(±√(6 / (fanIn + fanOut))).</summary>
    public static void GlorotUniform(Span<float> weights, int fanIn, int fanOut, RecurRandom random) =>
        Uniform(weights, Math.Sqrt(6.0 / (fanIn + fanOut)), random);

    /// <summary>
    /// A (semi-)orthogonal [rows, cols] matrix scaled by <paramref name="gain"/>: a Gaussian matrix orthonormalised
    /// by modified Gram–Schmidt in double (the QR factor with positive diagonal, so the result is uniformly
    /// distributed). Rows are orthonormal when rows ≤ cols, columns otherwise.
    /// </summary>
    public static void Orthogonal(Span<float> weights, int rows, int cols, RecurRandom random, double gain = 1.0)
    {
        if (weights.Length != rows * cols)
            throw new ArgumentException($"Orthogonal initialiser: [{rows}, {cols}] needs {rows * cols} values; found {weights.Length}.", nameof(weights));
        // Orthonormalise the n vectors of length m, n ≤ m: rows of a [n, m] matrix.
        bool byRows = rows <= cols;
        int n = byRows ? rows : cols, m = byRows ? cols : rows;
        var q = new double[n * m];
        for (int i = 0; i < q.Length; i++) q[i] = random.Normal();
        for (int v = 0; v < n; v++)
        {
            var vec = q.AsSpan(v * m, m);
            for (int u = 0; u < v; u++)
            {
                var prev = q.AsSpan(u * m, m);
                double dot = 0;
                for (int k = 0; k < m; k++) dot += vec[k] * prev[k];
                for (int k = 0; k < m; k++) vec[k] -= dot * prev[k];
            }
            double norm = 0;
            for (int k = 0; k < m; k++) norm += vec[k] * vec[k];
            norm = Math.Sqrt(norm);
            if (norm < 1e-12) throw new InvalidOperationException("Orthogonal initialiser drew a degenerate matrix.");
            for (int k = 0; k < m; k++) vec[k] /= norm;
        }
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                weights[r * cols + c] = (float)(gain * (byRows ? q[r * m + c] : q[c * m + r]));
    }
}

using System.Numerics;
using System.Runtime.InteropServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Layer normalisation of each row of a [R, N] matrix (Ba et al. 2016), generic over the number type:
/// <code>
/// μ = mean(x)   σ² = mean((x − μ)²)   r = 1/√(σ² + ε)   x̂ = (x − μ)·r   y = γ ⊙ x̂ + β
/// </code>
/// The forward pass keeps x̂ [R, N] and r [R] for the backward pass. ε = 1e-5, as PyTorch's <c>nn.LayerNorm</c>.
/// float32 runs the fused SIMD kernels (<see cref="FusedCells"/>), other types the references.
/// </summary>
public static class RowLayerNorm<T> where T : struct, IFloatingPointIeee754<T>
{
    public static readonly T Epsilon = T.CreateChecked(1e-5);

    /// <summary>
    /// x, y: [R, N] (may be the same span); gain, bias: [N]; writes normalized x̂: [R, N] and rstd: [R].
    /// <paramref name="addBias"/> (empty or [N]) is added to y as well (a second bias, e.g. PyTorch's b_ih).
    /// </summary>
    public static void Forward(int rows, int n, ReadOnlySpan<T> x, ReadOnlySpan<T> gain, ReadOnlySpan<T> bias, ReadOnlySpan<T> addBias,
        Span<T> y, Span<T> normalized, Span<T> rstd)
    {
        if (typeof(T) == typeof(float)) FusedCells.LayerNormForward(GemmIsa.Auto, 0, rows, n, F(x), F(gain), F(bias), F(addBias), F(y), F(normalized), F(rstd));
        else ForwardReference(rows, n, x, gain, bias, addBias, y, normalized, rstd);
    }

    /// <summary>The plain (generic) <see cref="Forward"/> the fused float32 kernel is held to.</summary>
    public static void ForwardReference(int rows, int n, ReadOnlySpan<T> x, ReadOnlySpan<T> gain, ReadOnlySpan<T> bias, ReadOnlySpan<T> addBias,
        Span<T> y, Span<T> normalized, Span<T> rstd)
    {
        T count = T.CreateChecked(n);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * n, n);
            T mean = T.Zero;
            for (int j = 0; j < n; j++) mean += xr[j];
            mean /= count;
            T variance = T.Zero;
            for (int j = 0; j < n; j++) { T d = xr[j] - mean; variance += d * d; }
            variance /= count;
            T inv = T.One / T.Sqrt(variance + Epsilon);
            rstd[r] = inv;
            var nr = normalized.Slice(r * n, n);
            var yr = y.Slice(r * n, n);
            for (int j = 0; j < n; j++)
            {
                T xh = (xr[j] - mean) * inv;
                nr[j] = xh;
                T v = gain[j] * xh + bias[j];
                yr[j] = addBias.IsEmpty ? v : v + addBias[j];
            }
        }
    }

    /// <summary>
    /// From dy: [R, N] writes (overwrites) dx: [R, N] (may be the same span as dy) and adds into dGain, dBias: [N].
    /// dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂)) with dx̂ = dy ⊙ γ.
    /// </summary>
    public static void Backward(int rows, int n, ReadOnlySpan<T> dy, ReadOnlySpan<T> normalized, ReadOnlySpan<T> rstd,
        ReadOnlySpan<T> gain, Span<T> dx, Span<T> dGain, Span<T> dBias)
    {
        if (typeof(T) == typeof(float)) FusedCells.LayerNormBackward(GemmIsa.Auto, 0, rows, n, F(dy), F(normalized), F(rstd), F(gain), F(dx), F(dGain), F(dBias));
        else BackwardReference(rows, n, dy, normalized, rstd, gain, dx, dGain, dBias);
    }

    /// <summary>The plain (generic) <see cref="Backward"/> the fused float32 kernel is held to.</summary>
    public static void BackwardReference(int rows, int n, ReadOnlySpan<T> dy, ReadOnlySpan<T> normalized, ReadOnlySpan<T> rstd,
        ReadOnlySpan<T> gain, Span<T> dx, Span<T> dGain, Span<T> dBias)
    {
        T count = T.CreateChecked(n);
        for (int r = 0; r < rows; r++)
        {
            var dyr = dy.Slice(r * n, n);
            var nr = normalized.Slice(r * n, n);
            T sum = T.Zero, dot = T.Zero;
            for (int j = 0; j < n; j++)
            {
                T g = dyr[j];
                dGain[j] += g * nr[j];
                dBias[j] += g;
                T dxh = g * gain[j];
                sum += dxh;
                dot += dxh * nr[j];
            }
            T meanD = sum / count, meanDot = dot / count, inv = rstd[r];
            var dxr = dx.Slice(r * n, n);
            for (int j = 0; j < n; j++) dxr[j] = inv * (dyr[j] * gain[j] - meanD - nr[j] * meanDot);
        }
    }

    private static Span<float> F(Span<T> s) => MemoryMarshal.Cast<T, float>(s);
    private static ReadOnlySpan<float> F(ReadOnlySpan<T> s) => MemoryMarshal.Cast<T, float>(s);
}

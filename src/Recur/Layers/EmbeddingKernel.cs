using System.Numerics;
using System.Numerics.Tensors;

namespace Recur.Layers;

/// <summary>Table look-up y[n, :] = W[index[n], :]. N look-ups, V vocabulary rows, E embedding width.</summary>
public static class EmbeddingKernel<T> where T : struct, IFloatingPointIeee754<T>
{
    /// <summary>indices: [N] in [0, V), weight: [V, E] → y: [N, E].</summary>
    public static void Forward(ReadOnlySpan<int> indices, int vocabulary, int width, ReadOnlySpan<T> weight, Span<T> y)
    {
        for (int n = 0; n < indices.Length; n++)
        {
            int v = indices[n];
            if ((uint)v >= (uint)vocabulary)
                throw new ArgumentOutOfRangeException(nameof(indices), v, $"Embedding index at position {n} must be in [0, {vocabulary}); found {v}.");
            weight.Slice(v * width, width).CopyTo(y.Slice(n * width, width));
        }
    }

    /// <summary>dy: [N, E]; adds dW[index[n], :] += dy[n, :] in order of n (repeated indices accumulate).</summary>
    public static void Backward(ReadOnlySpan<int> indices, int width, ReadOnlySpan<T> dy, Span<T> dWeight)
    {
        for (int n = 0; n < indices.Length; n++)
        {
            var row = dWeight.Slice(indices[n] * width, width);
            TensorPrimitives.Add(row, dy.Slice(n * width, width), row);
        }
    }
}

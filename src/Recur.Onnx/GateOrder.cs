using Recur.Layers;

namespace Recur.Onnx;

/// <summary>
/// The one place where Recur's (PyTorch's) gate order becomes ONNX's. Recur stores each recurrent weight and bias as
/// G blocks of H rows: LSTM i, f, g, o; GRU r, z, n; RNN one block. ONNX's <c>LSTM</c> wants i, o, f, c (c is
/// PyTorch's g) and its <c>GRU</c> z, r, h (h is PyTorch's n; with <c>linear_before_reset=1</c> it is PyTorch's
/// formulation exactly). Everything else in the exporter copies blocks through <see cref="Reorder"/>.
/// </summary>
internal static class GateOrder
{
    /// <summary>For ONNX gate k (in ONNX order), the index of the PyTorch gate block that holds it.</summary>
    public static int[] OnnxFromPyTorch(CellKind cell) => cell switch
    {
        // PyTorch i=0, f=1, g=2, o=3  →  ONNX i, o, f, c
        CellKind.Lstm => [0, 3, 1, 2],
        // PyTorch r=0, z=1, n=2  →  ONNX z, r, h
        CellKind.Gru => [1, 0, 2],
        CellKind.Rnn => [0],
        _ => throw new NotSupportedException($"no ONNX gate order for cell {cell}"),
    };

    /// <summary>
    /// Copies <paramref name="pyTorch"/> (G blocks of H rows of <paramref name="columns"/> values each; a bias has
    /// one column) into <paramref name="onnx"/> in ONNX's gate order.
    /// </summary>
    public static void Reorder(CellKind cell, ReadOnlySpan<float> pyTorch, Span<float> onnx, int hidden, int columns)
    {
        var order = OnnxFromPyTorch(cell);
        int block = hidden * columns;
        if (pyTorch.Length != order.Length * block || onnx.Length != pyTorch.Length)
            throw new ArgumentException($"expected {order.Length} gate blocks of {hidden}×{columns} values; found {pyTorch.Length} in, {onnx.Length} out.");
        for (int k = 0; k < order.Length; k++)
            pyTorch.Slice(order[k] * block, block).CopyTo(onnx.Slice(k * block, block));
    }
}

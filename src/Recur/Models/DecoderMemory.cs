using Recur.Autograd;
using Recur.Tensors;

namespace Recur.Models;

/// <summary>
/// The encoder side a decoder reads at every step: the encoder outputs [B, T, F] (right-padded), additive
/// attention's projected keys K·e_t [B, T, F] (null for dot attention; computed once, not per step) and the real
/// lengths [B] (empty: all T).
/// </summary>
public sealed record DecoderMemory(Variable Outputs, Variable? ProjectedKeys, int[] Lengths)
{
    public int Batch => Outputs.Value.Dim(0);

    /// <summary>The given rows, in that order (a row may repeat), as plain values without gradient.</summary>
    public DecoderMemory Rows(int[] rows) =>
        new(new Variable(Gather(Outputs.Value, rows, axis: 0)),
            ProjectedKeys is null ? null : new Variable(Gather(ProjectedKeys.Value, rows, axis: 0)),
            Lengths.Length == 0 ? [] : rows.Select(r => Lengths[r]).ToArray());

    /// <summary>Rows of <paramref name="x"/> along axis 0 ([B, …]) or axis 1 ([L, B, …]) → the same shape with rows.Length in that axis.</summary>
    internal static Tensor Gather(Tensor x, int[] rows, int axis)
    {
        int outer = axis == 0 ? 1 : x.Dim(0), B = x.Dim(axis), inner = x.Length / (outer * B);
        var shape = x.Shape.ToArray();
        shape[axis] = rows.Length;
        var y = new Tensor(shape);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < rows.Length; i++)
                x.Data.AsSpan((o * B + rows[i]) * inner, inner).CopyTo(y.Data.AsSpan((o * rows.Length + i) * inner));
        return y;
    }
}

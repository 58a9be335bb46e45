using Recur.Autograd;
using Recur.Tensors;

namespace Recur.Models;

/// <summary>
/// What an <see cref="AttentionDecoder"/> carries from one step to the next: its recurrent state h, c [L, B, H]
/// (c for LSTM only) and the previous step's attention context [B, F] (zeros before the first step).
/// </summary>
public sealed record DecoderState(Variable Hidden, Variable? Cell, Variable Context)
{
    /// <summary>
    /// The states of the given batch rows, in that order (a row may repeat), as plain values without gradient: how
    /// beam search keeps the hypotheses it extends.
    /// </summary>
    public DecoderState Rows(int[] rows) =>
        new(new Variable(DecoderMemory.Gather(Hidden.Value, rows, axis: 1)),
            Cell is null ? null : new Variable(DecoderMemory.Gather(Cell.Value, rows, axis: 1)),
            new Variable(DecoderMemory.Gather(Context.Value, rows, axis: 0)));
}

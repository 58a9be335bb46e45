using Recur.Autograd;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>Selections along the time axis of batch-major sequences [B, T, F].</summary>
public static class TimeSteps
{
    /// <summary>The last step of every sequence: [B, T, F] → [B, F] (the usual input of a forecasting or classification head).</summary>
    public static Variable Last(Tape tape, Variable sequence) => At(tape, sequence, -1);

    /// <summary>
    /// The last real step of every right-padded sequence: [B, T, F] → [B, F], row b taken from step lengths[b] − 1
    /// (T − 1 for every sequence when <paramref name="lengths"/> is null). lengths: [B], each in 1 … T.
    /// </summary>
    public static Variable Last(Tape tape, Variable sequence, int[]? lengths)
    {
        var x = sequence.Value;
        if (x.Rank != 3) throw new ArgumentException($"Expected a sequence [batch, time, features]; found {x.ShapeText}.", nameof(sequence));
        if (lengths is null) return At(tape, sequence, -1);
        int B = x.Dim(0), T = x.Dim(1), F = x.Dim(2);
        CheckLastSteps(lengths, B, T);
        var steps = (int[])lengths.Clone(); // the caller may reuse its array before backward runs
        var y = new Variable(new Tensor(B, F), sequence.RequiresGrad && tape.IsRecording);
        for (int b = 0; b < B; b++) x.Data.AsSpan((b * T + steps[b] - 1) * F, F).CopyTo(y.Value.Data.AsSpan(b * F, F));
        if (y.RequiresGrad)
            tape.Record(() =>
            {
                var dx = sequence.Grad.Data;
                var dy = y.Grad.Data;
                for (int b = 0; b < B; b++)
                {
                    int row = (b * T + steps[b] - 1) * F;
                    for (int f = 0; f < F; f++) dx[row + f] += dy[b * F + f];
                }
            });
        tape.AfterBackward(y.ReleaseGrad); // only this backward step read it
        tape.ReleaseOnDispose(y.Value);
        return y;
    }

    /// <summary>
    /// What <see cref="Last(Tape, Variable, int[])"/> gives for the output of a unidirectional recurrent stack without
    /// residual connections, taken from its final hidden states [L, B, H] (<see cref="RecurrentOutput.HiddenState"/>):
    /// layer <paramref name="layer"/>'s [B, H]. The stack's output at a sequence's last real step is its top layer's
    /// hidden state there, which the final state carries unchanged over the padded steps, so the values are the same
    /// bits. The gradient then enters the stack's backward pass as its final state's, and the output sequence gets
    /// none: no [B, T, H] gradient of zeros but one step is allocated, filled and added into the state's gradient at
    /// every step (config a's training step 5% faster at two threads, 3% at one). lengths: as for <see cref="Last(Tape, Variable, int[])"/>,
    /// checked against <paramref name="steps"/>.
    /// </summary>
    public static Variable LastFromFinalStates(Tape tape, Variable states, int layer, int steps, int[]? lengths)
    {
        var s = states.Value;
        if (s.Rank != 3 || (uint)layer >= (uint)s.Dim(0))
            throw new ArgumentException($"Expected final states [layers, batch, hidden] with a layer {layer}; found {s.ShapeText}.", nameof(states));
        int B = s.Dim(1), H = s.Dim(2), offset = layer * B * H;
        if (lengths is not null) CheckLastSteps(lengths, B, steps);
        var y = new Variable(new Tensor(B, H), states.RequiresGrad && tape.IsRecording);
        s.Data.AsSpan(offset, B * H).CopyTo(y.Value.Data);
        if (y.RequiresGrad)
            tape.Record(() =>
            {
                var ds = states.Grad.Data.AsSpan(offset, B * H);
                System.Numerics.Tensors.TensorPrimitives.Add(ds, y.Grad.Data, ds);
            });
        tape.AfterBackward(y.ReleaseGrad); // only this backward step read it
        tape.ReleaseOnDispose(y.Value);
        return y;
    }

    /// <summary>One length per sequence, each in 1 … T: every sequence has a last step.</summary>
    private static void CheckLastSteps(int[] lengths, int B, int T)
    {
        if (lengths.Length != B)
            throw new ArgumentException($"Expected one length per sequence (batch {B}); found {lengths.Length} lengths.", nameof(lengths));
        for (int b = 0; b < B; b++)
            if (lengths[b] < 1 || lengths[b] > T)
                throw new ArgumentException(lengths[b] == 0
                    ? $"lengths[{b}] is 0: that sequence has no last step."
                    : $"lengths[{b}] = {lengths[b]} is outside 1 … {T} (the number of time steps).", nameof(lengths));
    }

    /// <summary>
    /// The summary of a bidirectional sequence [B, T, 2H] (per step concat(forward, backward)) → [B, 2H]: row b is
    /// the forward half at its last real step lengths[b] − 1 (T − 1 when <paramref name="lengths"/> is null)
    /// beside the backward half at step 0, where the backward direction has read the whole sequence.
    /// </summary>
    public static Variable BidirectionalLast(Tape tape, Variable sequence, int[]? lengths)
    {
        var x = sequence.Value;
        if (x.Rank != 3 || x.Dim(2) % 2 != 0)
            throw new ArgumentException($"Expected a bidirectional sequence [batch, time, 2·hidden]; found {x.ShapeText}.", nameof(sequence));
        int B = x.Dim(0), T = x.Dim(1), F = x.Dim(2), H = F / 2;
        if (lengths is not null && lengths.Length != B)
            throw new ArgumentException($"Expected one length per sequence (batch {B}); found {lengths.Length} lengths.", nameof(lengths));
        var last = new int[B];
        for (int b = 0; b < B; b++)
        {
            int n = lengths?[b] ?? T;
            if (n < 1 || n > T)
                throw new ArgumentException(n == 0
                    ? $"lengths[{b}] is 0: that sequence has no last step."
                    : $"lengths[{b}] = {n} is outside 1 … {T} (the number of time steps).", nameof(lengths));
            last[b] = n - 1;
        }
        var y = new Variable(new Tensor(B, F), sequence.RequiresGrad && tape.IsRecording);
        for (int b = 0; b < B; b++)
        {
            x.Data.AsSpan((b * T + last[b]) * F, H).CopyTo(y.Value.Data.AsSpan(b * F, H));
            x.Data.AsSpan(b * T * F + H, H).CopyTo(y.Value.Data.AsSpan(b * F + H, H));
        }
        if (y.RequiresGrad)
            tape.Record(() =>
            {
                var dx = sequence.Grad.Data;
                var dy = y.Grad.Data;
                for (int b = 0; b < B; b++)
                    for (int j = 0; j < H; j++)
                    {
                        dx[(b * T + last[b]) * F + j] += dy[b * F + j];
                        dx[b * T * F + H + j] += dy[b * F + H + j];
                    }
            });
        tape.AfterBackward(y.ReleaseGrad); // only this backward step read it
        tape.ReleaseOnDispose(y.Value);
        return y;
    }

    /// <summary>Step <paramref name="step"/> of every sequence (negative counts from the end): [B, T, F] → [B, F].</summary>
    public static Variable At(Tape tape, Variable sequence, int step)
    {
        var x = sequence.Value;
        if (x.Rank != 3) throw new ArgumentException($"Expected a sequence [batch, time, features]; found {x.ShapeText}.", nameof(sequence));
        int B = x.Dim(0), T = x.Dim(1), F = x.Dim(2);
        int t = step < 0 ? T + step : step;
        if ((uint)t >= (uint)T) throw new ArgumentOutOfRangeException(nameof(step), step, $"Step must address one of the {T} time steps.");
        var y = new Variable(new Tensor(B, F), sequence.RequiresGrad && tape.IsRecording);
        for (int b = 0; b < B; b++) x.Data.AsSpan((b * T + t) * F, F).CopyTo(y.Value.Data.AsSpan(b * F, F));
        if (y.RequiresGrad)
            tape.Record(() =>
            {
                var dx = sequence.Grad.Data;
                var dy = y.Grad.Data;
                for (int b = 0; b < B; b++)
                    for (int f = 0; f < F; f++) dx[(b * T + t) * F + f] += dy[b * F + f];
            });
        tape.AfterBackward(y.ReleaseGrad); // only this backward step read it
        tape.ReleaseOnDispose(y.Value);
        return y;
    }
}

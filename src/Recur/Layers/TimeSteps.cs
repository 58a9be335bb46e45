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
        if (lengths.Length != B)
            throw new ArgumentException($"Expected one length per sequence (batch {B}); found {lengths.Length} lengths.", nameof(lengths));
        for (int b = 0; b < B; b++)
            if (lengths[b] < 1 || lengths[b] > T)
                throw new ArgumentException(lengths[b] == 0
                    ? $"lengths[{b}] is 0: that sequence has no last step."
                    : $"lengths[{b}] = {lengths[b]} is outside 1 … {T} (the number of time steps).", nameof(lengths));
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

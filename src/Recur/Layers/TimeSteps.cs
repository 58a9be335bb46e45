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
        return y;
    }
}

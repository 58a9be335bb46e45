using Recur.Autograd;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>Selections along the time axis of batch-major sequences [B, T, F].</summary>
public static class TimeSteps
{
    /// <summary>The last step of every sequence: [B, T, F] → [B, F] (the usual input of a forecasting or classification head).</summary>
    public static Variable Last(Tape tape, Variable sequence) => At(tape, sequence, -1);

    /// <summary>
    /// Each sequence's last real step: step lengths[b] − 1 of sequence b, [B, T, F] → [B, F]; null lengths: the
    /// last step of all.
    /// </summary>
    public static Variable Last(Tape tape, Variable sequence, int[]? lengths)
    {
        if (lengths is null) return Last(tape, sequence);
        var x = sequence.Value;
        if (x.Rank != 3) throw new ArgumentException($"Expected a sequence [batch, time, features]; found {x.ShapeText}.", nameof(sequence));
        int B = x.Dim(0), T = x.Dim(1), F = x.Dim(2);
        if (lengths.Length != B) throw new ArgumentException($"Expected one length per sequence ({B}); found {lengths.Length}.", nameof(lengths));
        foreach (int length in lengths)
            if (length < 1 || length > T) throw new ArgumentOutOfRangeException(nameof(lengths), length, $"Lengths must lie in [1, {T}].");
        var y = new Variable(new Tensor(B, F), sequence.RequiresGrad && tape.IsRecording);
        for (int b = 0; b < B; b++) x.Data.AsSpan((b * T + lengths[b] - 1) * F, F).CopyTo(y.Value.Data.AsSpan(b * F, F));
        if (y.RequiresGrad)
            tape.Record(() =>
            {
                var dx = sequence.Grad.Data;
                var dy = y.Grad.Data;
                for (int b = 0; b < B; b++)
                    for (int f = 0; f < F; f++) dx[(b * T + lengths[b] - 1) * F + f] += dy[b * F + f];
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

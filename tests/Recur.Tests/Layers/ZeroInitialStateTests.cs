using System.Numerics;
using System.Runtime.InteropServices;
using Recur.Layers.Recurrent;
using Recur.Tensors;

namespace Recur.Tests.Layers;

/// <summary>
/// Without an initial state the layer skips step 0's recurrent product (h_0 = 0: it clears the gates instead), and
/// without a request for dL/dh_0 the backward pass skips the last step's dh_0 = dGates_0·W_hh. Against explicit zero
/// states with dh_0 and dc_0 asked for, every output, state and other gradient keeps its bits: in float and double,
/// part-major (H = 13 over 3 parts) and time-major (H = 160 at 3 threads; layer norm), at one thread and three,
/// with masks, padding, recurrent dropout and zoneout.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class ZeroInitialStateTests : IDisposable
{
    private readonly int _processors = StepLayout.Processors;

    public ZeroInitialStateTests() => StepLayout.Processors = 3;

    public void Dispose() => StepLayout.Processors = _processors;

    private const int Steps = 7, Batch = 26, Input = 5;

    [Theory]
    [InlineData(1, false, 13)]
    [InlineData(3, false, 13)]
    [InlineData(3, true, 13)]
    [InlineData(3, false, 160)]
    public void LstmWithoutInitialStateKeepsTheBitsOfZeroStates(int threads, bool layerNorm, int hidden)
    {
        Check<float, LstmCell>(threads, layerNorm, hidden);
        Check<double, LstmCell>(threads, layerNorm, hidden);
    }

    [Theory]
    [InlineData(1, false, 13)]
    [InlineData(3, false, 13)]
    [InlineData(3, true, 13)]
    [InlineData(3, false, 160)]
    public void GruWithoutInitialStateKeepsTheBitsOfZeroStates(int threads, bool layerNorm, int hidden)
    {
        Check<float, GruCell>(threads, layerNorm, hidden);
        Check<double, GruCell>(threads, layerNorm, hidden);
    }

    private static void Check<T, TCell>(int threads, bool layerNorm, int hidden)
        where T : struct, IFloatingPointIeee754<T> where TCell : IRecurrentCell
    {
        var reference = RecurrentHarness<double, TCell>.Random(Steps, Batch, Input, hidden, layers: 2, seed: 83, layerNorm: layerNorm);
        reference.Lengths = Enumerable.Range(0, Batch).Select(b => b % 4 == 0 ? Steps : (b * 5) % (Steps + 1)).ToArray();
        reference.Options = RecurrentRegularizationTests.Masks(reference, 0.2, 0.3, 0.15);
        var h = reference.Convert<T>();
        var zeroH0 = new T[h.H0.Length];
        var zeroC0 = new T[h.C0.Length];
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = threads;
            var given = RecurrentStackKernel<T, TCell>.Forward(h.Weights, h.X, Steps, Batch, zeroH0, zeroC0, h.Lengths, h.Options);
            var none = RecurrentStackKernel<T, TCell>.Forward(h.Weights, h.X, Steps, Batch, [], [], h.Lengths, h.Options);
            string where = $"{TCell.DisplayName} {typeof(T).Name}, {threads} thread(s), H = {hidden}{(layerNorm ? ", layer norm" : "")}";
            Assert.True(given.Layers[0].Layout.PartMajor == (hidden == 13 && !layerNorm), where); // parts follow the processors, not the threads
            Assert.True(SameBits<T>(given.Output.Span, none.Output.Span), $"{where}: outputs differ");
            Assert.True(SameBits<T>(given.FinalHidden, none.FinalHidden), $"{where}: final h differs");
            Assert.True(SameBits<T>(given.FinalCell, none.FinalCell), $"{where}: final c differs");

            var (gradsGiven, gradsNone) = (h.Weights.Select(w => w.ZerosLike()).ToList(), h.Weights.Select(w => w.ZerosLike()).ToList());
            var (dxGiven, dxNone) = (new T[h.X.Length], new T[h.X.Length]);
            var dh0 = new T[h.H0.Length];
            var dc0 = new T[h.C0.Length];
            RecurrentStackKernel<T, TCell>.Backward(h.Weights, given, h.DOutput, h.DhN, h.DcN, gradsGiven, dxGiven, dh0, dc0);
            RecurrentStackKernel<T, TCell>.Backward(h.Weights, none, h.DOutput, h.DhN, h.DcN, gradsNone, dxNone, [], []);
            // dh_0 reaches the loss only through the product the second pass skips: it is not zero here.
            Assert.Contains(dh0, v => v != T.Zero);
                        var named = h.Named((dxGiven, dh0, dc0, gradsGiven)).Zip(h.Named((dxNone, [], [], gradsNone)));
            foreach (var (a, b) in named.Where(pair => pair.First.name is not ("h0" or "c0")))
                Assert.True(SameBits<T>(a.grad, b.grad), $"{where}: d/d{a.name} differs");
        }
        finally
        {
            Engine.Threads = saved;
        }
    }

    private static bool SameBits<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : struct =>
        MemoryMarshal.AsBytes(a).SequenceEqual(MemoryMarshal.AsBytes(b));
}

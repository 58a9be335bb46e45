using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Recur.Autograd;
using Recur.Initialization;
using Recur.Layers.Recurrent;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>
/// Outputs of a recurrent module: the last layer's sequence [B, T, D·H] (zero at padded steps; bidirectional: per
/// step concat(forward, backward)), and h_T, c_T of every layer and direction [L·D, B, H] (with lengths, at each
/// sequence's last real step; bidirectional in PyTorch's order l0 forward, l0 backward, l1 forward, …).
/// </summary>
public sealed record RecurrentOutput(Variable Output, Variable HiddenState, Variable? CellState);

/// <summary>A recurrent stack that can also run one step of one sequence at a time (streaming inference).</summary>
internal interface IStepwiseRecurrentLayer
{
    /// <summary>
    /// A new <see cref="RecurrentStepper"/> over this stack's live weights and regularisation (zoneout's
    /// expectation); throws <see cref="NotSupportedException"/> for a bidirectional stack.
    /// </summary>
    RecurrentStepper CreateStepper();
}

/// <summary>
/// Options of a recurrent stack beyond its sizes, as PyTorch's <c>bidirectional</c> and <c>dropout</c> arguments,
/// plus residual connections.
/// </summary>
public sealed record RecurrentStackOptions
{
    /// <summary>A second, backward direction per layer (<c>_reverse</c> parameters); outputs are D·H = 2H wide.</summary>
    public bool Bidirectional { get; init; }

    /// <summary>Inverted dropout on each layer's output except the last, while training only; in [0, 1).</summary>
    public double Dropout { get; init; }

    /// <summary>Layer l ≥ 1 adds its input to its output (equal widths there); layer 0 never does.</summary>
    public bool Residual { get; init; }

    public static RecurrentStackOptions Default { get; } = new();
}

/// <summary>
/// L stacked recurrent layers over whole batch-major sequences [B, T, I], as PyTorch's <c>nn.LSTM</c>/<c>nn.GRU</c>/
/// <c>nn.RNN</c> with <c>batch_first=True</c>; parameters <c>weight_ih_l{k}</c> [G·H, I or D·H],
/// <c>weight_hh_l{k}</c> [G·H, H], <c>bias_ih_l{k}</c>, <c>bias_hh_l{k}</c> [G·H]; layer-normalised
/// (<c>layerNorm</c>) also <c>ln_ih_weight_l{k}</c>, <c>ln_ih_bias_l{k}</c>, <c>ln_hh_weight_l{k}</c>,
/// <c>ln_hh_bias_l{k}</c> [G·H] and, for LSTM, <c>ln_c_weight_l{k}</c>, <c>ln_c_bias_l{k}</c> [H] (gains start at 1,
/// biases at 0; see <see cref="RecurrentLayerNorm{T}"/>) after each layer-direction's four. With
/// <see cref="RecurrentStackOptions.Bidirectional"/> each layer's forward tensors are followed by the same ones with
/// a <c>_reverse</c> suffix (PyTorch's order). <see cref="Regularization"/> sets input dropout, recurrent dropout
/// and zoneout for training, per layer and direction. Bidirectional, residual and between-layer dropout stacks run
/// through <see cref="DeepRecurrentKernel{T, TCell}"/>; a plain unidirectional stack through
/// <see cref="RecurrentStackKernel{T, TCell}"/>; both with layer norm and the regularisation masks. With
/// <see cref="CheckpointTime"/> set they run through their checkpointed twins,
/// <see cref="CheckpointedDeepKernel{T, TCell}"/> and <see cref="CheckpointedStackKernel{T, TCell}"/>.
/// </summary>
public abstract class RecurrentModule<TCell> : Module, IRecurrentLayer, IStepwiseRecurrentLayer where TCell : IRecurrentCell
{
    private readonly Parameter[] _parameters;
    private readonly Parameter[][] _layerParameters;
    private readonly RecurrentLayerWeights<float>[] _weights;
    private RecurrentRegularization _regularization = RecurrentRegularization.None;

    protected RecurrentModule(string name, int inputSize, int hiddenSize, int numLayers,
        RecurrentInitialization? initialization, RecurRandom? random, RecurrentStackOptions? options = null, bool layerNorm = false)
        : base(name)
    {
        if (inputSize < 1) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "inputSize must be at least 1.");
        if (hiddenSize < 1) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, "hiddenSize must be at least 1.");
        if (numLayers < 1) throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers, "numLayers must be at least 1.");
        (InputSize, HiddenSize, NumLayers, LayerNorm) = (inputSize, hiddenSize, numLayers, layerNorm);
        Options = options ?? RecurrentStackOptions.Default;
        if (!(Options.Dropout >= 0 && Options.Dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(options), Options.Dropout, "Dropout between layers must be in [0, 1).");
        int D = Directions;
        initialization ??= RecurrentInitialization.Default;
        random ??= new RecurRandom(0);

        int G = TCell.GateCount, GH = G * hiddenSize;
        var parameters = new List<Parameter>();
        _weights = new RecurrentLayerWeights<float>[numLayers * D];
        _layerParameters = new Parameter[numLayers * D][];
        for (int l = 0; l < numLayers; l++)
        {
            int layerInput = l == 0 ? inputSize : D * hiddenSize;
            for (int d = 0; d < D; d++)
            {
                string suffix = d == 0 ? $"_l{l}" : $"_l{l}_reverse";
                var wih = new Parameter(Qualify($"weight_ih{suffix}"), new Tensor(GH, layerInput));
                var whh = new Parameter(Qualify($"weight_hh{suffix}"), new Tensor(GH, hiddenSize));
                var bih = new Parameter(Qualify($"bias_ih{suffix}"), new Tensor(GH));
                var bhh = new Parameter(Qualify($"bias_hh{suffix}"), new Tensor(GH));
                Initialize(initialization, random, wih.Value, whh.Value, bih.Value, bhh.Value, layerInput);
                Parameter[] layer = [wih, whh, bih, bhh];
                RecurrentLayerNorm<float>? norm = null;
                if (layerNorm)
                {
                    Parameter Ln(string what, int n, float value)
                    {
                        var p = new Parameter(Qualify($"ln_{what}{suffix}"), new Tensor(n));
                        p.Value.Data.AsSpan().Fill(value);
                        return p;
                    }
                    layer = [.. layer, Ln("ih_weight", GH, 1), Ln("ih_bias", GH, 0), Ln("hh_weight", GH, 1), Ln("hh_bias", GH, 0),
                        .. TCell.HasCellState ? new[] { Ln("c_weight", hiddenSize, 1), Ln("c_bias", hiddenSize, 0) } : []];
                    norm = LayerNormOf(layer, value: true);
                }
                parameters.AddRange(layer);
                _layerParameters[l * D + d] = layer;
                _weights[l * D + d] = new RecurrentLayerWeights<float>(G, layerInput, hiddenSize, wih.Value.Data, whh.Value.Data, bih.Value.Data, bhh.Value.Data)
                {
                    LayerNorm = norm,
                };
            }
        }
        _parameters = [.. parameters];
    }

    public int InputSize { get; }
    public int HiddenSize { get; }
    public int NumLayers { get; }
    public bool LayerNorm { get; }

    /// <inheritdoc/>
    public RecurrentRegularization Regularization
    {
        get => _regularization;
        set => _regularization = (value ?? throw new ArgumentNullException(nameof(value))).Validate();
    }

    /// <summary>
    /// The options (drawn masks, or zoneout's expectation) of the last forward pass, one per layer and direction
    /// (index l·D + d); null when it had none.
    /// </summary>
    public IReadOnlyList<RecurrentLayerOptions<float>?>? LastOptions { get; private set; }

    /// <summary>The layer-norm arrays of one layer's parameters (values or gradients); null without layer norm.</summary>
    private static RecurrentLayerNorm<float>? LayerNormOf(Parameter[] layer, bool value)
    {
        if (layer.Length == 4) return null;
        float[] A(int i) => value ? layer[i].Value.Data : layer[i].Grad.Data;
        return new RecurrentLayerNorm<float>(A(4), A(5), A(6), A(7), layer.Length > 8 ? A(8) : [], layer.Length > 8 ? A(9) : []);
    }

    /// <summary>
    /// Masks for this pass: drawn per layer and direction while training (index l·D + d; in that order, each
    /// layer-direction's input mask, recurrent mask, zoneout masks), zoneout's expectation at inference; null when
    /// nothing applies.
    /// </summary>
    private RecurrentLayerOptions<float>?[]? OptionsFor(RecurRandom? training, int steps, int batch)
    {
        var r = _regularization;
        if (r.IsNone) return null;
        int D = Directions, count = NumLayers * D;
        if (training is not null)
            return Enumerable.Range(0, count).Select(k => (RecurrentLayerOptions<float>?)RecurrentLayerOptions.Draw<float>(training, steps, batch,
                _weights[k].InputSize, HiddenSize, TCell.HasCellState, r.InputDropout, r.RecurrentDropout, r.Zoneout)).ToArray();
        if (r.Zoneout == 0) return null;
        var expectation = new RecurrentLayerOptions<float> { Zoneout = r.Zoneout };
        return Enumerable.Repeat<RecurrentLayerOptions<float>?>(expectation, count).ToArray();
    }

    public RecurrentStackOptions Options { get; }

    /// <inheritdoc/>
    public int? CheckpointTime
    {
        get => _checkpointTime;
        set
        {
            if (value is < 0) throw new ArgumentOutOfRangeException(nameof(value), value, "The checkpoint segment length must be at least 1 (0: ⌈√T⌉).");
            _checkpointTime = value;
        }
    }

    private int? _checkpointTime;

    /// <summary>1, or 2 when bidirectional.</summary>
    public int Directions => Options.Bidirectional ? 2 : 1;

    /// <summary>Width of each output step: D·H.</summary>
    public int OutputSize => Directions * HiddenSize;

    public override IReadOnlyList<Parameter> Parameters => _parameters;

    public GradientFlowProbe? Probe { get; set; }

    private void Initialize(RecurrentInitialization init, RecurRandom random, Tensor wih, Tensor whh, Tensor bih, Tensor bhh, int layerInput)
    {
        int H = HiddenSize, G = TCell.GateCount;
        double pyTorchLimit = 1.0 / Math.Sqrt(H);
        switch (init.InputWeights)
        {
            case WeightInit.GlorotUniform: Initializers.GlorotUniform(wih.Span, layerInput, G * H, random); break;
            case WeightInit.PyTorchUniform: Initializers.Uniform(wih.Span, pyTorchLimit, random); break;
            case WeightInit.Orthogonal:
                for (int g = 0; g < G; g++) Initializers.Orthogonal(wih.Span.Slice(g * H * layerInput, H * layerInput), H, layerInput, random);
                break;
            case WeightInit.Zeros: break;
        }
        switch (init.RecurrentWeights)
        {
            case WeightInit.Orthogonal:
                for (int g = 0; g < G; g++) Initializers.Orthogonal(whh.Span.Slice(g * H * H, H * H), H, H, random);
                break;
            case WeightInit.GlorotUniform: Initializers.GlorotUniform(whh.Span, H, G * H, random); break;
            case WeightInit.PyTorchUniform: Initializers.Uniform(whh.Span, pyTorchLimit, random); break;
            case WeightInit.Zeros: break;
        }
        if (init.PyTorchBiases)
        {
            Initializers.Uniform(bih.Span, pyTorchLimit, random);
            Initializers.Uniform(bhh.Span, pyTorchLimit, random);
        }
        if (TCell.HasCellState && init.ForgetGateBias != 0)
        {
            var forget = bih.Span.Slice(LstmCell.ForgetGate * H, H);
            for (int j = 0; j < H; j++) forget[j] += (float)init.ForgetGateBias;
        }
    }

    /// <summary>
    /// Runs the stack over input [B, T, I] from optional initial states h0, c0 [L·D, B, H] (zeros when absent;
    /// c0 only for LSTM) and records the backward step. lengths: [B] real steps of each right-padded sequence,
    /// each in 0 … T; null or empty means every sequence has all T steps. As PyTorch's <c>pack_padded_sequence</c>:
    /// at padded steps every layer's output is zero and its state is carried, so HiddenState and CellState are each
    /// sequence's states at its last real step (h0, c0 for a length of 0); padded steps get no gradient. The
    /// backward direction reads each sequence from its own last real step. <paramref name="training"/>: when given
    /// (training), the between-layer dropout masks and then the <see cref="Regularization"/> masks (per layer and
    /// direction: l0 forward, l0 backward, l1 forward, …) are drawn from it (nothing is drawn for a rate of 0);
    /// null means inference: no dropout, and zoneout its expectation.
    /// </summary>
    public RecurrentOutput Forward(Tape tape, Variable input, Variable? h0 = null, Variable? c0 = null, int[]? lengths = null,
        RecurRandom? training = null)
    {
        if (input.Value.Rank != 3 || input.Value.Dim(2) != InputSize)
            throw new ArgumentException($"{this} expects input [batch, time, {InputSize}]; found {input.Value.ShapeText}.", nameof(input));
        int B = input.Value.Dim(0), T = input.Value.Dim(1), H = HiddenSize, L = NumLayers;
        if (T == 0 || B == 0) throw new ArgumentException($"{this} needs at least one sequence of at least one step; found {input.Value.ShapeText}.", nameof(input));
        CheckState(h0, "h0", B);
        if (c0 is not null && !TCell.HasCellState) throw new ArgumentException($"{TCell.DisplayName} has no cell state, but c0 was given.", nameof(c0));
        CheckState(c0, "c0", B);
        if (lengths is { Length: > 0 } && lengths.Length != B)
            throw new ArgumentException($"{this} expects one length per sequence (batch {B}); found {lengths.Length} lengths.", nameof(lengths));

        float[][]? masks = null;
        if (training is not null && Options.Dropout > 0 && L > 1)
        {
            masks = new float[L - 1][];
            for (int l = 0; l < L - 1; l++)
            {
                masks[l] = new float[T * B * OutputSize];
                DropoutKernel<float>.Mask(Options.Dropout, training, masks[l]);
            }
        }
        var options = OptionsFor(training, T, B);
        LastOptions = options;
        bool deep = Options.Bidirectional || masks is not null || Options.Residual && L > 1;
        int? K = CheckpointTime is int segment ? segment == 0 ? (int)Math.Ceiling(Math.Sqrt(T)) : segment : null;
        if (K is int plainSegment && !deep)
            return CheckpointedForward(tape, input, h0, c0, lengths, options, B, T, plainSegment);
        var x = Layout.SwapLeadingAxes<float>(input.Value.Data, B, T, InputSize); // [T, B, I]
        if (K is int deepSegment)
            return CheckpointedDeepForward(tape, input, h0, c0, lengths, x, masks, options, B, T, deepSegment);
        if (deep)
            return DeepForward(tape, input, h0, c0, lengths, x, masks, options, B, T);
        // The kernel writes every element of the batch-major output itself, each part its own sequences.
        var outputData = Workspace.AllocateUninitialized<float>(B * T * H);
        var result = RecurrentStackKernel<float, TCell>.Forward(_weights, x, T, B,
            h0 is null ? [] : h0.Value.Data, c0 is null ? [] : c0.Value.Data, lengths, options, KeepForBackward(tape), outputData);

        if (Probe is not null)
            Probe.SaturatedFraction = result.Layers.Select(RecurrentLayerKernel<float, TCell>.SaturatedFraction).ToArray();
        bool needsGrad = tape.IsRecording; // parameters always require gradients
        var output = new Variable(new Tensor(outputData, B, T, H), needsGrad);
        var hidden = new Variable(new Tensor(result.FinalHidden, L, B, H), needsGrad);
        var cell = TCell.HasCellState ? new Variable(new Tensor(result.FinalCell, L, B, H), needsGrad) : null;
        ReleaseOnDispose(tape, output, hidden, cell);
        if (needsGrad)
            tape.Record(() => Backward(result, input, h0, c0, output, hidden, cell, B, T));
        tape.AfterBackward(() =>
        {
            // The caches and the time-major input only feed the backward pass; the final states stay with the caller.
            result.Release();
            Workspace.Release(x);
            output.ReleaseGrad(); // the final states' gradients stay readable: callers check what crossed a window
        });
        return new RecurrentOutput(output, hidden, cell);
    }



    private RecurrentOutput DeepForward(Tape tape, Variable input, Variable? h0, Variable? c0, int[]? lengths, float[] x,
        float[][]? masks, RecurrentLayerOptions<float>?[]? options, int B, int T)
    {
        int H = HiddenSize, L = NumLayers, D = Directions;
        var result = DeepRecurrentKernel<float, TCell>.Forward(_weights, D, Options.Residual, masks, x, T, B,
            h0 is null ? [] : h0.Value.Data, c0 is null ? [] : c0.Value.Data, lengths, options, KeepForBackward(tape));
        if (Probe is not null) Probe.SaturatedFraction = DeepRecurrentKernel<float, TCell>.SaturatedFraction(result);
        bool needsGrad = tape.IsRecording;
        var output = new Variable(new Tensor(Layout.SwapLeadingAxes<float>(result.Output, T, B, D * H), B, T, D * H), needsGrad);
        var hidden = new Variable(new Tensor(result.FinalHidden, L * D, B, H), needsGrad);
        var cell = TCell.HasCellState ? new Variable(new Tensor(result.FinalCell, L * D, B, H), needsGrad) : null;
        ReleaseOnDispose(tape, output, hidden, cell);
        if (needsGrad)
            RecordDeepBackward(tape, input, h0, c0, output, hidden, cell, B, T,
                (dOutput, dhN, dcN, grads, dx, dh0, dc0, stepNorms) =>
                    DeepRecurrentKernel<float, TCell>.Backward(_weights, result, dOutput, dhN, dcN, grads, dx, dh0, dc0, stepNorms));
        tape.AfterBackward(() =>
        {
            result.Release();
            Workspace.Release(x);
            output.ReleaseGrad(); // the final states' gradients stay readable: callers check what crossed a window
        });
        return new RecurrentOutput(output, hidden, cell);
    }

    /// <summary>
    /// Whether the kernels keep every step's gate values: for the backward pass, or for the probe's saturation
    /// measure; an inference pass keeps one step's, which cuts its cache by about half.
    /// </summary>
    private bool KeepForBackward(Tape tape) => tape.IsRecording || Probe is not null;

    /// <summary>A deep kernel's backward pass: time-major dOutput [T, B, D·H] in, dx [T, B, I] and the rest out.</summary>
    private delegate void DeepBackward(float[] dOutput, float[] dhN, float[] dcN, RecurrentLayerWeights<float>[] grads,
        float[] dx, float[] dh0, float[] dc0, double[][]? stepNorms);

    /// <summary>
    /// Records the deep paths' backward step: the output gradient swapped to time-major, the kernel's backward,
    /// the probe's step norms, and the gradients added into the input and initial states.
    /// </summary>
    private void RecordDeepBackward(Tape tape, Variable input, Variable? h0, Variable? c0, Variable output, Variable hidden, Variable? cell,
        int B, int T, DeepBackward backward) =>
        tape.Record(() =>
        {
            int width = Directions * HiddenSize;
            float[] dOutput = output.HasGrad ? Layout.SwapLeadingAxes<float>(output.Grad.Data, B, T, width) : [];
            float[] dx = input.RequiresGrad ? Workspace.Allocate<float>(T * B * InputSize) : [];
            float[] dh0 = h0 is { RequiresGrad: true } ? new float[h0.Value.Length] : [];
            float[] dc0 = c0 is { RequiresGrad: true } ? new float[c0.Value.Length] : [];
            var stepNorms = Probe is null ? null : new double[NumLayers][];
            backward(dOutput, hidden.HasGrad ? hidden.Grad.Data : [], cell is { HasGrad: true } ? cell.Grad.Data : [],
                Gradients(), dx, dh0, dc0, stepNorms);
            if (Probe is not null) Probe.StepGradientNorms = stepNorms!;
            AddInputGradients(input, h0, c0, dx, dh0, dc0, B, T);
            Workspace.Release(dOutput);
            Workspace.Release(dx);
        });

    /// <summary>
    /// The module's results stay the caller's until it disposes the tape (see <see cref="Tape.Dispose"/>), and so do
    /// the final states' gradients (the output's goes back after the backward pass).
    /// </summary>
    private static void ReleaseOnDispose(Tape tape, Variable output, Variable hidden, Variable? cell)
    {
        tape.ReleaseOnDispose(output.Value);
        tape.ReleaseOnDispose(hidden.Value);
        tape.ReleaseGradOnDispose(hidden);
        if (cell is not null)
        {
            tape.ReleaseOnDispose(cell.Value);
            tape.ReleaseGradOnDispose(cell);
        }
    }

    /// <summary>The parameters' gradient tensors as weight sets (layer norm included), in the order of the weights.</summary>
    private RecurrentLayerWeights<float>[] Gradients() => _weights.Select((w, k) =>
    {
        var p = _layerParameters[k];
        return new RecurrentLayerWeights<float>(w.GateCount, w.InputSize, w.HiddenSize, p[0].Grad.Data, p[1].Grad.Data, p[2].Grad.Data, p[3].Grad.Data)
        {
            LayerNorm = LayerNormOf(p, value: false),
        };
    }).ToArray();

    /// <summary>Adds dx [T, B, I] (when not empty), dh0 and dc0 into the gradients of input, h0 and c0.</summary>
    private void AddInputGradients(Variable input, Variable? h0, Variable? c0, float[] dx, float[] dh0, float[] dc0, int B, int T)
    {
        if (input.RequiresGrad && dx.Length > 0)
        {
            var dInput = Layout.SwapLeadingAxes<float>(dx, T, B, InputSize);
            TensorPrimitives.Add(input.Grad.Data, dInput, input.Grad.Data);
            Workspace.Release(dInput);
        }
        if (h0 is { RequiresGrad: true }) TensorPrimitives.Add(h0.Grad.Data, dh0, h0.Grad.Data);
        if (c0 is { RequiresGrad: true }) TensorPrimitives.Add(c0.Grad.Data, dc0, c0.Grad.Data);
    }

    private void Backward(RecurrentStackResult<float> result, Variable input, Variable? h0, Variable? c0,
        Variable output, Variable hidden, Variable? cell, int B, int T)
    {
        int H = HiddenSize, I = InputSize;
        float[] dOutput = output.HasGrad ? output.Grad.Data : []; // batch-major, as the kernel reads it
        var grads = Gradients();
        float[] dx = input.RequiresGrad ? Workspace.Allocate<float>(T * B * I) : [];
        float[] dh0 = h0 is { RequiresGrad: true } ? new float[h0.Value.Length] : [];
        float[] dc0 = c0 is { RequiresGrad: true } ? new float[c0.Value.Length] : [];
        var stepNorms = Probe is null ? null : Enumerable.Range(0, NumLayers).Select(_ => new double[T]).ToArray();
        RecurrentStackKernel<float, TCell>.Backward(_weights, result, dOutput,
            hidden.HasGrad ? hidden.Grad.Data : [], cell is { HasGrad: true } ? cell.Grad.Data : [],
            grads, dx, dh0, dc0, stepNorms, dOutputBatchMajor: true);
        if (Probe is not null) Probe.StepGradientNorms = stepNorms!;
        if (input.RequiresGrad)
        {
            var dInput = Layout.SwapLeadingAxes<float>(dx, T, B, I);
            TensorPrimitives.Add(input.Grad.Data, dInput, input.Grad.Data);
            Workspace.Release(dInput);
        }
        Workspace.Release(dx);
        if (h0 is { RequiresGrad: true }) TensorPrimitives.Add(h0.Grad.Data, dh0, h0.Grad.Data);
        if (c0 is { RequiresGrad: true }) TensorPrimitives.Add(c0.Grad.Data, dc0, c0.Grad.Data);
    }

    // ---- Gradient checkpointing of the time loop (CheckpointTime) ----

    /// <summary>
    /// The plain stack through <see cref="CheckpointedStackKernel{T, TCell}"/>: segments of K steps over every layer,
    /// on the batch-major input, output and gradients themselves (no whole-sequence layout copies).
    /// </summary>
    private RecurrentOutput CheckpointedForward(Tape tape, Variable input, Variable? h0, Variable? c0, int[]? lengths,
        RecurrentLayerOptions<float>?[]? options, int B, int T, int K)
    {
        int H = HiddenSize, L = NumLayers;
        bool needsGrad = tape.IsRecording;
        var result = CheckpointedStackKernel<float, TCell>.Forward(_weights, input.Value.Data, T, B, K,
            h0 is null ? [] : h0.Value.Data, c0 is null ? [] : c0.Value.Data, lengths, options,
            keepBoundaries: needsGrad, measureSaturation: Probe is not null, batchMajor: true);
        if (Probe is not null) Probe.SaturatedFraction = result.SaturatedFraction!;
        var output = new Variable(new Tensor(result.Output, B, T, H), needsGrad);
        var hidden = new Variable(new Tensor(result.FinalHidden, L, B, H), needsGrad);
        var cell = TCell.HasCellState ? new Variable(new Tensor(result.FinalCell, L, B, H), needsGrad) : null;
        ReleaseOnDispose(tape, output, hidden, cell);
        if (needsGrad)
            tape.Record(() =>
            {
                float[] dh0 = h0 is { RequiresGrad: true } ? new float[h0.Value.Length] : [];
                float[] dc0 = c0 is { RequiresGrad: true } ? new float[c0.Value.Length] : [];
                var stepNorms = Probe is null ? null : Enumerable.Range(0, L).Select(_ => new double[T]).ToArray();
                // The kernel adds into the input's gradient directly (batch-major, as the input).
                CheckpointedStackKernel<float, TCell>.Backward(_weights, result, output.HasGrad ? output.Grad.Data : [],
                    hidden.HasGrad ? hidden.Grad.Data : [], cell is { HasGrad: true } ? cell.Grad.Data : [],
                    Gradients(), input.RequiresGrad ? input.Grad.Data : [], dh0, dc0, stepNorms);
                if (Probe is not null) Probe.StepGradientNorms = stepNorms!;
                AddInputGradients(input, h0, c0, [], dh0, dc0, B, T);
            });
        tape.AfterBackward(() =>
        {
            result.Release();
            output.ReleaseGrad();
        });
        return new RecurrentOutput(output, hidden, cell);
    }

    /// <summary>
    /// The deep path (bidirectional, residual, dropout between layers) through
    /// <see cref="CheckpointedDeepKernel{T, TCell}"/>: each layer's output kept, each layer-direction's steps in
    /// segments of K.
    /// </summary>
    private RecurrentOutput CheckpointedDeepForward(Tape tape, Variable input, Variable? h0, Variable? c0, int[]? lengths, float[] x,
        float[][]? masks, RecurrentLayerOptions<float>?[]? options, int B, int T, int K)
    {
        int H = HiddenSize, L = NumLayers, D = Directions;
        bool needsGrad = tape.IsRecording;
        var result = CheckpointedDeepKernel<float, TCell>.Forward(_weights, D, Options.Residual, masks, x, T, B, K,
            h0 is null ? [] : h0.Value.Data, c0 is null ? [] : c0.Value.Data, lengths, options,
            keepBoundaries: needsGrad, measureSaturation: Probe is not null);
        if (Probe is not null) Probe.SaturatedFraction = result.SaturatedFraction!;
        var output = new Variable(new Tensor(Layout.SwapLeadingAxes<float>(result.Output, T, B, D * H), B, T, D * H), needsGrad);
        Workspace.Release(result.Output); // copied into the output; the backward pass does not read it
        var hidden = new Variable(new Tensor(result.FinalHidden, L * D, B, H), needsGrad);
        var cell = TCell.HasCellState ? new Variable(new Tensor(result.FinalCell, L * D, B, H), needsGrad) : null;
        ReleaseOnDispose(tape, output, hidden, cell);
        if (needsGrad)
            RecordDeepBackward(tape, input, h0, c0, output, hidden, cell, B, T,
                (dOutput, dhN, dcN, grads, dx, dh0, dc0, stepNorms) =>
                    CheckpointedDeepKernel<float, TCell>.Backward(_weights, result, dOutput, dhN, dcN, grads, dx, dh0, dc0, stepNorms));
        tape.AfterBackward(() =>
        {
            result.Release();
            Workspace.Release(x);
            output.ReleaseGrad();
        });
        return new RecurrentOutput(output, hidden, cell);
    }

    /// <inheritdoc/>
    RecurrentStepper IStepwiseRecurrentLayer.CreateStepper()
    {
        if (Options.Bidirectional)
            throw new NotSupportedException($"{this} reads each sequence backwards too, so it cannot run one step at a time.");
        // At inference only zoneout acts inside the layers (its expectation, read at every step); dropout is off.
        return new RecurrentStepper<TCell>(_weights, Options.Residual, this);
    }

    private void CheckState(Variable? state, string name, int batch)
    {
        if (state is null) return;
        var s = state.Value;
        int layers = NumLayers * Directions;
        if (s.Rank != 3 || s.Dim(0) != layers || s.Dim(1) != batch || s.Dim(2) != HiddenSize)
            throw new ArgumentException($"{this} expects {name} [{layers}, {batch}, {HiddenSize}] ({(Directions == 2 ? "layers × directions" : "layers")}, batch, hidden); found {s.ShapeText}.", name);
    }

    public override string ToString() =>
        $"{TCell.DisplayName}({InputSize} => {HiddenSize}{(NumLayers > 1 ? $", layers: {NumLayers}" : "")}" +
        $"{(Options.Bidirectional ? ", bidirectional" : "")}{(Options.Dropout > 0 ? $", dropout: {Options.Dropout}" : "")}{(Options.Residual ? ", residual" : "")}" +
        $"{(LayerNorm ? ", layer norm" : "")})";
}

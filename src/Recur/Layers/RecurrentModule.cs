using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Recur.Autograd;
using Recur.Initialization;
using Recur.Layers.Recurrent;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>
/// Outputs of a recurrent module: the last layer's sequence [B, T, H] (zero at padded steps), and h_T, c_T of every
/// layer [L, B, H] (with lengths, at each sequence's last real step).
/// </summary>
public sealed record RecurrentOutput(Variable Output, Variable HiddenState, Variable? CellState);

/// <summary>
/// L stacked recurrent layers over whole batch-major sequences [B, T, I], as PyTorch's <c>nn.LSTM</c>/<c>nn.GRU</c>/
/// <c>nn.RNN</c> with <c>batch_first=True</c>; parameters <c>weight_ih_l{k}</c> [G·H, I or H],
/// <c>weight_hh_l{k}</c> [G·H, H], <c>bias_ih_l{k}</c>, <c>bias_hh_l{k}</c> [G·H]; layer-normalised
/// (<c>layerNorm</c>) also <c>ln_ih_weight_l{k}</c>, <c>ln_ih_bias_l{k}</c>, <c>ln_hh_weight_l{k}</c>,
/// <c>ln_hh_bias_l{k}</c> [G·H] and, for LSTM, <c>ln_c_weight_l{k}</c>, <c>ln_c_bias_l{k}</c> [H] (gains start at 1,
/// biases at 0; see <see cref="RecurrentLayerNorm{T}"/>). <see cref="Regularization"/> sets input dropout,
/// recurrent dropout and zoneout for training.
/// </summary>
public abstract class RecurrentModule<TCell> : Module, IRecurrentLayer where TCell : IRecurrentCell
{
    private readonly Parameter[] _parameters;
    private readonly Parameter[][] _layerParameters;
    private readonly RecurrentLayerWeights<float>[] _weights;
    private RecurrentRegularization _regularization = RecurrentRegularization.None;

    protected RecurrentModule(string name, int inputSize, int hiddenSize, int numLayers,
        RecurrentInitialization? initialization, RecurRandom? random, bool layerNorm = false)
        : base(name)
    {
        if (inputSize < 1) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "inputSize must be at least 1.");
        if (hiddenSize < 1) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, "hiddenSize must be at least 1.");
        if (numLayers < 1) throw new ArgumentOutOfRangeException(nameof(numLayers), numLayers, "numLayers must be at least 1.");
        (InputSize, HiddenSize, NumLayers, LayerNorm) = (inputSize, hiddenSize, numLayers, layerNorm);
        initialization ??= RecurrentInitialization.Default;
        random ??= new RecurRandom(0);

        int G = TCell.GateCount, GH = G * hiddenSize;
        var parameters = new List<Parameter>();
        _weights = new RecurrentLayerWeights<float>[numLayers];
        _layerParameters = new Parameter[numLayers][];
        for (int l = 0; l < numLayers; l++)
        {
            int layerInput = l == 0 ? inputSize : hiddenSize;
            var wih = new Parameter(Qualify($"weight_ih_l{l}"), new Tensor(GH, layerInput));
            var whh = new Parameter(Qualify($"weight_hh_l{l}"), new Tensor(GH, hiddenSize));
            var bih = new Parameter(Qualify($"bias_ih_l{l}"), new Tensor(GH));
            var bhh = new Parameter(Qualify($"bias_hh_l{l}"), new Tensor(GH));
            Initialize(initialization, random, wih.Value, whh.Value, bih.Value, bhh.Value, layerInput);
            Parameter[] layer = [wih, whh, bih, bhh];
            RecurrentLayerNorm<float>? norm = null;
            if (layerNorm)
            {
                int cell = TCell.HasCellState ? hiddenSize : 0;
                Parameter Ln(string what, int n, float value)
                {
                    var p = new Parameter(Qualify($"ln_{what}_l{l}"), new Tensor(n));
                    p.Value.Data.AsSpan().Fill(value);
                    return p;
                }
                layer = [.. layer, Ln("ih_weight", GH, 1), Ln("ih_bias", GH, 0), Ln("hh_weight", GH, 1), Ln("hh_bias", GH, 0),
                    .. TCell.HasCellState ? new[] { Ln("c_weight", cell, 1), Ln("c_bias", cell, 0) } : []];
                norm = LayerNormOf(layer, value: true);
            }
            parameters.AddRange(layer);
            _layerParameters[l] = layer;
            _weights[l] = new RecurrentLayerWeights<float>(G, layerInput, hiddenSize, wih.Value.Data, whh.Value.Data, bih.Value.Data, bhh.Value.Data)
            {
                LayerNorm = norm,
            };
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

    /// <summary>The per-layer options (drawn masks, or zoneout's expectation) of the last forward pass; null when it had none.</summary>
    public IReadOnlyList<RecurrentLayerOptions<float>?>? LastOptions { get; private set; }

    /// <summary>The layer-norm arrays of one layer's parameters (values or gradients); null without layer norm.</summary>
    private static RecurrentLayerNorm<float>? LayerNormOf(Parameter[] layer, bool value)
    {
        if (layer.Length == 4) return null;
        float[] A(int i) => value ? layer[i].Value.Data : layer[i].Grad.Data;
        return new RecurrentLayerNorm<float>(A(4), A(5), A(6), A(7), layer.Length > 8 ? A(8) : [], layer.Length > 8 ? A(9) : []);
    }

    /// <summary>
    /// Masks for this pass: drawn per layer while training (input mask, recurrent mask, zoneout masks, layer by
    /// layer), zoneout's expectation at inference; null when nothing applies.
    /// </summary>
    private RecurrentLayerOptions<float>?[]? OptionsFor(bool training, RecurRandom? random, int steps, int batch)
    {
        var r = _regularization;
        if (r.IsNone) return null;
        if (training && random is not null)
            return Enumerable.Range(0, NumLayers).Select(l => (RecurrentLayerOptions<float>?)RecurrentLayerOptions.Draw<float>(random, steps, batch,
                l == 0 ? InputSize : HiddenSize, HiddenSize, TCell.HasCellState, r.InputDropout, r.RecurrentDropout, r.Zoneout)).ToArray();
        if (r.Zoneout == 0) return null;
        var expectation = new RecurrentLayerOptions<float> { Zoneout = r.Zoneout };
        return Enumerable.Repeat<RecurrentLayerOptions<float>?>(expectation, NumLayers).ToArray();
    }

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
    /// Runs the stack over input [B, T, I] from optional initial states h0, c0 [L, B, H] (zeros when absent;
    /// c0 only for LSTM) and records the backward step. lengths: [B] real steps of each right-padded sequence,
    /// each in 0 … T; null or empty means every sequence has all T steps. As PyTorch's <c>pack_padded_sequence</c>:
    /// at padded steps every layer's output is zero and its state is carried, so HiddenState and CellState are each
    /// sequence's states at its last real step (h0, c0 for a length of 0); padded steps get no gradient.
    /// training with a random generator: the <see cref="Regularization"/> masks are drawn from it (nothing is drawn
    /// when every rate is 0); otherwise no dropout applies, and zoneout its expectation.
    /// </summary>
    public RecurrentOutput Forward(Tape tape, Variable input, Variable? h0 = null, Variable? c0 = null, int[]? lengths = null) =>
        Forward(tape, input, h0, c0, lengths, training: false);

    /// <summary>As the inference overload above; training with a random generator draws the <see cref="Regularization"/> masks.</summary>
    public RecurrentOutput Forward(Tape tape, Variable input, Variable? h0, Variable? c0, int[]? lengths, bool training, RecurRandom? random = null)
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

        var x = Layout.SwapLeadingAxes<float>(input.Value.Data, B, T, InputSize); // [T, B, I]
        var options = OptionsFor(training, random, T, B);
        LastOptions = options;
        var result = RecurrentStackKernel<float, TCell>.Forward(_weights, x, T, B,
            h0 is null ? [] : h0.Value.Data, c0 is null ? [] : c0.Value.Data, lengths, options);

        if (Probe is not null)
            Probe.SaturatedFraction = result.Layers.Select(RecurrentLayerKernel<float, TCell>.SaturatedFraction).ToArray();
        bool needsGrad = tape.IsRecording; // parameters always require gradients
        var output = new Variable(new Tensor(Layout.SwapLeadingAxes<float>(result.Output.Span, T, B, H), B, T, H), needsGrad);
        var hidden = new Variable(new Tensor(result.FinalHidden, L, B, H), needsGrad);
        var cell = TCell.HasCellState ? new Variable(new Tensor(result.FinalCell, L, B, H), needsGrad) : null;
        if (needsGrad)
            tape.Record(() => Backward(result, input, h0, c0, output, hidden, cell, B, T));
        return new RecurrentOutput(output, hidden, cell);
    }

    private void Backward(RecurrentStackResult<float> result, Variable input, Variable? h0, Variable? c0,
        Variable output, Variable hidden, Variable? cell, int B, int T)
    {
        int H = HiddenSize, I = InputSize;
        float[] dOutput = output.HasGrad ? Layout.SwapLeadingAxes<float>(output.Grad.Data, B, T, H) : [];
        var grads = _weights.Select((w, l) =>
        {
            var p = _layerParameters[l];
            return new RecurrentLayerWeights<float>(w.GateCount, w.InputSize, w.HiddenSize, p[0].Grad.Data, p[1].Grad.Data, p[2].Grad.Data, p[3].Grad.Data)
            {
                LayerNorm = LayerNormOf(p, value: false),
            };
        }).ToArray();
        float[] dx = input.RequiresGrad ? new float[T * B * I] : [];
        float[] dh0 = h0 is { RequiresGrad: true } ? new float[h0.Value.Length] : [];
        float[] dc0 = c0 is { RequiresGrad: true } ? new float[c0.Value.Length] : [];
        var stepNorms = Probe is null ? null : Enumerable.Range(0, NumLayers).Select(_ => new double[T]).ToArray();
        RecurrentStackKernel<float, TCell>.Backward(_weights, result, dOutput,
            hidden.HasGrad ? hidden.Grad.Data : [], cell is { HasGrad: true } ? cell.Grad.Data : [],
            grads, dx, dh0, dc0, stepNorms);
        if (Probe is not null) Probe.StepGradientNorms = stepNorms!;
        if (input.RequiresGrad)
        {
            var dInput = Layout.SwapLeadingAxes<float>(dx, T, B, I);
            TensorPrimitives.Add(input.Grad.Data, dInput, input.Grad.Data);
        }
        if (h0 is { RequiresGrad: true }) TensorPrimitives.Add(h0.Grad.Data, dh0, h0.Grad.Data);
        if (c0 is { RequiresGrad: true }) TensorPrimitives.Add(c0.Grad.Data, dc0, c0.Grad.Data);
    }

    private void CheckState(Variable? state, string name, int batch)
    {
        if (state is null) return;
        var s = state.Value;
        if (s.Rank != 3 || s.Dim(0) != NumLayers || s.Dim(1) != batch || s.Dim(2) != HiddenSize)
            throw new ArgumentException($"{this} expects {name} [{NumLayers}, {batch}, {HiddenSize}] (layers, batch, hidden); found {s.ShapeText}.", name);
    }

    public override string ToString() =>
        $"{TCell.DisplayName}({InputSize} => {HiddenSize}{(NumLayers > 1 ? $", layers: {NumLayers}" : "")}{(LayerNorm ? ", layer norm" : "")})";
}

namespace Recur.Initialization;

/// <summary>How a weight matrix of a recurrent layer is drawn.</summary>
public enum WeightInit
{
    /// <summary>U(±√(6 / (fan_in + fan_out))), fans of the whole [I, G·H] kernel as Keras counts them.</summary>
    GlorotUniform,

    /// <summary>Each gate's [H, H] block orthogonal (recurrent weights); keeps the product's norm through time.</summary>
    Orthogonal,

    /// <summary>PyTorch's default for every recurrent tensor: U(±1/√H).</summary>
    PyTorchUniform,

    Zeros,
}

/// <summary>
/// Initialisation of a recurrent layer. Defaults: Glorot-uniform input weights, orthogonal recurrent weights,
/// zero biases, and LSTM forget-gate bias 1 (in b_ih; b_hh stays 0, so their sum is 1) so the cell remembers
/// by default.
/// </summary>
public sealed record RecurrentInitialization
{
    public WeightInit InputWeights { get; init; } = WeightInit.GlorotUniform;
    public WeightInit RecurrentWeights { get; init; } = WeightInit.Orthogonal;

    /// <summary>Biases as PyTorch draws them (U(±1/√H)) instead of zeros.</summary>
    public bool PyTorchBiases { get; init; }

    /// <summary>Added to the LSTM forget-gate block of b_ih; ignored by other cells.</summary>
    public double ForgetGateBias { get; init; } = 1.0;

    public static RecurrentInitialization Default { get; } = new();

    /// <summary>Exactly PyTorch's reset_parameters: every tensor U(±1/√H), no forget bias.</summary>
    public static RecurrentInitialization PyTorch { get; } = new()
    {
        InputWeights = WeightInit.PyTorchUniform,
        RecurrentWeights = WeightInit.PyTorchUniform,
        PyTorchBiases = true,
        ForgetGateBias = 0,
    };
}

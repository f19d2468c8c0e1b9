//! The `logexp` command line: parses arguments, calls the library, prints.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use logexp::data::Range;
use logexp::experiment::{Pair, RunSpec};
use logexp::train::Loss;
use std::process::ExitCode;

/// Learn multiplicative relations with neural networks: train the paper's network
/// (symmetric log / exp activations) or any of the Keras activation pairs on a target formula
/// and measure how well it extrapolates.
#[derive(Parser)]
#[command(name = "logexp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one network on one target function and report its extrapolation error.
    Train(TrainArgs),
}

/// Everything that defines one run; shared by the commands that train.
#[derive(Args, Clone)]
struct RunArgs {
    /// Hidden-layer activations, one per hidden layer, comma-separated (e.g. relu,linear).
    /// `lg` is the paper's pair symlog,symexp. Names: elu, hard_sigmoid, linear, relu, selu,
    /// sigmoid, softmax, softplus, softsign, swish, tanh, symlog, symexp.
    #[arg(long, default_value = "lg")]
    pair: Pair,
    /// Passes over the training set.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Rows per minibatch (the last partial batch of each epoch is kept).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,12")]
    hidden: Vec<usize>,
    /// Training loss: mae (the paper's) or mse.
    #[arg(long, default_value = "mae")]
    loss: Loss,
    /// Training rows.
    #[arg(long, default_value_t = 10_000)]
    n_train: usize,
    /// Test rows.
    #[arg(long, default_value_t = 2_000)]
    n_test: usize,
    /// Range LOW,HIGH of every training input (half-open).
    #[arg(long, default_value = "10,100", allow_hyphen_values = true)]
    train_range: Range,
    /// Range LOW,HIGH of every test input (half-open); the paper tests outside the training range.
    #[arg(long, default_value = "100,1000", allow_hyphen_values = true)]
    test_range: Range,
    /// Seed of initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of the data [default: the value of --seed]. All pairs with the same data seed see
    /// identical rows.
    #[arg(long)]
    data_seed: Option<u64>,
}

impl RunArgs {
    fn spec(&self, function: &str) -> RunSpec {
        RunSpec {
            function: function.to_string(),
            pair: self.pair.clone(),
            hidden: self.hidden.clone(),
            seed: self.seed,
            data_seed: self.data_seed.unwrap_or(self.seed),
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            loss: self.loss,
            n_train: self.n_train,
            n_test: self.n_test,
            train_range: self.train_range,
            test_range: self.test_range,
            ..RunSpec::paper(function, self.pair.clone())
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    /// Target expression over x1..xn, e.g. "x1*x2/10" or "x1*(x2+x3)+x4"
    /// (+ - * / ^, unary minus, parentheses, numbers such as 1e3).
    #[arg(long)]
    function: String,
    #[command(flatten)]
    run: RunArgs,
    /// Print exactly one JSON record on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
}

fn train(args: &TrainArgs) -> Result<(), logexp::Error> {
    let spec = args.run.spec(&args.function);
    let record = logexp::experiment::run(&spec)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&record).expect("records always serialise")
        );
    } else {
        println!("{}", record.summary(10));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Train(args) => train(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(if err.is_usage() { 2 } else { 1 })
        }
    }
}
